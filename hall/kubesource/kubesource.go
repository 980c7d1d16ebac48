// Package kubesource is the hall's ShardSource on Kubernetes: a read-only
// controller-runtime cache (informers) on the Regions and RoomShards of one
// namespace. It needs get/list/watch on regions and roomshards only: the
// marker below makes ClusterRole gamehall-hall (config/rbac), which the
// operator binds to each Hall's ServiceAccount in the Hall's namespace.
//
// +kubebuilder:rbac:roleName=gamehall-hall,groups=gamehall.dev,resources=regions;roomshards,verbs=get;list;watch
package kubesource

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/hall"
)

// Debounce coalesces bursts of object changes (e.g. 1,000 shards' status
// updates) into one topology.
const Debounce = 50 * time.Millisecond

// Source watches Regions (matching a label selector) and RoomShards.
type Source struct {
	cache     cache.Cache
	namespace string
	log       logr.Logger

	startOnce sync.Once
	startErr  chan error
}

var _ hall.ShardSource = (*Source)(nil)

// New builds the source; nothing talks to the API server until Watch.
// selector "" selects every Region.
func New(cfg *rest.Config, namespace, selector string, log logr.Logger) (*Source, error) {
	if namespace == "" {
		return nil, fmt.Errorf("kubesource: a namespace is required")
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("kubesource: region selector %q: %w", selector, err)
	}
	scheme := runtime.NewScheme()
	if err := gamehallv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := cache.New(cfg, cache.Options{
		Scheme:            scheme,
		DefaultNamespaces: map[string]cache.Config{namespace: {}},
		ByObject: map[client.Object]cache.ByObject{
			&gamehallv1.Region{}: {Label: sel},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("kubesource: %w", err)
	}
	return &Source{cache: c, namespace: namespace, log: log, startErr: make(chan error, 1)}, nil
}

// Watch starts the informers (once) and sends the topology after their
// first sync and after every change. The channel closes when ctx ends or
// the cache fails.
func (s *Source) Watch(ctx context.Context) <-chan hall.Topology {
	out := make(chan hall.Topology)
	nudge := make(chan struct{}, 1)
	poke := func() {
		select {
		case nudge <- struct{}{}:
		default:
		}
	}
	go func() {
		defer close(out)
		s.startOnce.Do(func() {
			go func() { s.startErr <- s.cache.Start(ctx) }()
		})
		handler := toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { poke() },
			UpdateFunc: func(any, any) { poke() },
			DeleteFunc: func(any) { poke() },
		}
		for _, obj := range []client.Object{&gamehallv1.Region{}, &gamehallv1.RoomShard{}} {
			inf, err := s.cache.GetInformer(ctx, obj)
			if err != nil {
				s.log.Error(err, "kubesource: informer")
				return
			}
			reg, err := inf.AddEventHandler(handler)
			if err != nil {
				s.log.Error(err, "kubesource: event handler")
				return
			}
			defer inf.RemoveEventHandler(reg)
		}
		if !s.cache.WaitForCacheSync(ctx) {
			return
		}
		poke()
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-s.startErr:
				if err != nil {
					s.log.Error(err, "kubesource: cache stopped")
				}
				return
			case <-nudge:
			}
			// Let a burst of changes land before listing.
			select {
			case <-ctx.Done():
				return
			case <-time.After(Debounce):
			}
			t, err := s.topology(ctx)
			if err != nil {
				s.log.Error(err, "kubesource: listing")
				continue
			}
			select {
			case out <- t:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func (s *Source) topology(ctx context.Context) (hall.Topology, error) {
	var regions gamehallv1.RegionList
	if err := s.cache.List(ctx, &regions, client.InNamespace(s.namespace)); err != nil {
		return hall.Topology{}, err
	}
	var shards gamehallv1.RoomShardList
	if err := s.cache.List(ctx, &shards, client.InNamespace(s.namespace)); err != nil {
		return hall.Topology{}, err
	}
	return Convert(regions.Items, shards.Items), nil
}

// Convert maps the objects to a hall Topology (sorted by name). Regions
// being deleted are left out; shards are kept even if their region is not
// listed (the hall ignores them).
func Convert(regions []gamehallv1.Region, shards []gamehallv1.RoomShard) hall.Topology {
	var t hall.Topology
	for _, r := range regions {
		if r.DeletionTimestamp != nil {
			continue
		}
		name := r.Spec.DisplayName
		if name == "" {
			name = r.Name
		}
		info := hall.RegionInfo{Name: r.Name, Game: r.Spec.Game, DisplayName: name}
		if d := r.Spec.Database; d != nil {
			info.Database = d.File() // as the operator mounts it
		}
		t.Regions = append(t.Regions, info)
	}
	for _, sh := range shards {
		t.Shards = append(t.Shards, ShardInfo(&sh))
	}
	sort.Slice(t.Regions, func(i, j int) bool { return t.Regions[i].Name < t.Regions[j].Name })
	sort.Slice(t.Shards, func(i, j int) bool { return t.Shards[i].Name < t.Shards[j].Name })
	return t
}

// ShardInfo maps one RoomShard. It is ready when its Ready condition is
// True and it has both addresses; draining when its spec says so or its
// Draining condition is True, or when it is being deleted.
func ShardInfo(sh *gamehallv1.RoomShard) hall.ShardInfo {
	st := sh.Status
	info := hall.ShardInfo{
		Name:         sh.Name,
		Region:       sh.Spec.Region,
		Game:         sh.Spec.Game,
		Address:      st.Address,
		Port:         int(st.Port),
		FirstRoom:    int(sh.Spec.FirstRoom),
		Rooms:        int(sh.Spec.Rooms),
		RoomCapacity: int(sh.Spec.RoomCapacity),
		Draining: sh.Spec.Draining || sh.DeletionTimestamp != nil ||
			meta.IsStatusConditionTrue(st.Conditions, gamehallv1.ConditionDraining),
	}
	if st.InternalAddress != "" && st.InternalPort > 0 {
		info.InternalURL = "http://" + net.JoinHostPort(st.InternalAddress, strconv.Itoa(int(st.InternalPort)))
	}
	ready := meta.FindStatusCondition(st.Conditions, gamehallv1.ConditionReady)
	info.Ready = ready != nil && ready.Status == metav1.ConditionTrue &&
		info.Address != "" && info.Port > 0 && info.InternalURL != ""
	return info
}
