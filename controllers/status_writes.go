package controllers

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// statusWrites remembers, per object, the status a reconciler last wrote
// and the resourceVersion that write made. It is for a reconciler that its
// own status writes do not wake (the Region's, whose watch passes spec and
// label changes only): its next reconcile can run before the cache has seen
// that write. Compared with the cache's older status, a status that has
// changed back (2 shards while one is deleted, then 1 again) looks
// unchanged, patchStatus skips it, and the API server keeps the write in
// between for good: nothing wakes the reconciler again. The RoomShard and
// Hall reconcilers are woken by their own writes, so a fresh cache corrects
// them.
type statusWrites[S any] struct {
	mu sync.Mutex
	m  map[types.NamespacedName]statusWrite[S]
}

type statusWrite[S any] struct {
	resourceVersion string
	status          S
}

// base is the status the API server holds as far as this process knows:
// the cached object's, or the one last written when the cache is older
// than that write (or its resourceVersion cannot be compared: the operator
// is the status's only writer).
func (w *statusWrites[S]) base(cached client.Object, status S) S {
	key := client.ObjectKeyFromObject(cached)
	w.mu.Lock()
	defer w.mu.Unlock()
	last, ok := w.m[key]
	if !ok {
		return status
	}
	if c, err := resourceversion.CompareResourceVersion(cached.GetResourceVersion(), last.resourceVersion); err == nil && c >= 0 {
		delete(w.m, key) // the cache has seen the write: it knows best again
		return status
	}
	return last.status
}

// wrote records a status write; written is the object as the API server
// answered it (its new resourceVersion), status a copy of its status.
func (w *statusWrites[S]) wrote(written client.Object, status S) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[types.NamespacedName]statusWrite[S]{}
	}
	w.m[client.ObjectKeyFromObject(written)] = statusWrite[S]{resourceVersion: written.GetResourceVersion(), status: status}
}

// forget drops what was remembered of a deleted object.
func (w *statusWrites[S]) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, key)
}
