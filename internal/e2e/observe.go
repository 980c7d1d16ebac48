package e2e

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// Observer checks invariants every second while a scenario runs, from what
// the API shows: no shard or room over capacity (the rooms each shard
// reports in its RoomShard's status), no pod that cannot start (a wrong
// image, flag source or mount in what the operator generates), no
// container of the platform restarting (a crash). The bots report the
// rest (players cut, protocol errors).
type Observer struct {
	c          *Cluster
	ns         string
	stop, done chan struct{}
	mu         sync.Mutex
	violations map[string]bool
	// AllowRestarts turns the restart check off (fault tests crash pods).
	AllowRestarts bool
}

// WatchInvariants starts observing namespace ns.
func (c *Cluster) WatchInvariants(ns string) *Observer {
	o := &Observer{c: c, ns: ns, stop: make(chan struct{}), done: make(chan struct{}), violations: map[string]bool{}}
	go o.loop()
	c.T.Cleanup(func() { o.Stop() })
	return o
}

func (o *Observer) loop() {
	defer close(o.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
		}
		o.check()
	}
}

func (o *Observer) violate(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v := fmt.Sprintf(format, args...)
	if !o.violations[v] {
		o.violations[v] = true
		o.c.Progressf("INVARIANT VIOLATED: %s", v)
	}
}

func (o *Observer) check() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var shards gamehallv1.RoomShardList
	if err := o.c.Client.List(ctx, &shards, client.InNamespace(o.ns)); err == nil {
		for _, s := range shards.Items {
			if s.Status.Capacity > 0 && s.Status.Players > s.Status.Capacity {
				o.violate("RoomShard %s has %d players, capacity %d", s.Name, s.Status.Players, s.Status.Capacity)
			}
			for _, r := range s.Status.RoomList {
				if r.Players > r.Capacity {
					o.violate("room %d (RoomShard %s) has %d players, capacity %d", r.Room, s.Name, r.Players, r.Capacity)
				}
			}
		}
	}
	var pods corev1.PodList
	if err := o.c.Client.List(ctx, &pods); err == nil {
		for _, p := range pods.Items {
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "CreateContainerConfigError" || w.Reason == "CreatePodSandboxError") {
					o.violate("pod %s/%s cannot start: %s: %s", p.Namespace, p.Name, w.Reason, w.Message)
				}
				if cs.RestartCount > 0 && !o.AllowRestarts {
					o.violate("container %s of pod %s/%s restarted (log: %s)", cs.Name, p.Namespace, p.Name, o.c.Node.Kubelet.LogPath(p.Namespace, p.Name, cs.Name))
				}
			}
		}
	}
}

// Stop ends observing and returns the violations seen, sorted.
func (o *Observer) Stop() []string {
	select {
	case <-o.stop:
	default:
		close(o.stop)
	}
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for v := range o.violations {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
