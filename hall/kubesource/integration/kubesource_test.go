// Package integration runs kubesource against the envtest control plane (a
// real kube-apiserver and etcd; `make envtest` builds them).
package integration

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/hall/kubesource"
	"github.com/gamehall/gamehall/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// next reads topologies until cond holds.
func next(t *testing.T, ch <-chan hall.Topology, what string, cond func(hall.Topology) bool) hall.Topology {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case top, ok := <-ch:
			if !ok {
				t.Fatalf("source closed waiting for %s", what)
			}
			if cond(top) {
				return top
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestSourceFollowsObjects(t *testing.T) {
	ns := env.Namespace(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := env.Client

	for _, r := range []*gamehallv1.Region{
		{ObjectMeta: metav1.ObjectMeta{Name: "ddz-1", Namespace: ns, Labels: map[string]string{"hall": "main"}},
			Spec: gamehallv1.RegionSpec{Game: "doudizhu", DisplayName: "Dou Dizhu 1"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: ns}, Spec: gamehallv1.RegionSpec{Game: "doudizhu"}},
	} {
		if err := c.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	sh := &gamehallv1.RoomShard{
		ObjectMeta: metav1.ObjectMeta{Name: "ddz-1-0", Namespace: ns},
		Spec:       gamehallv1.RoomShardSpec{Region: "ddz-1", Index: 0, Game: "doudizhu", FirstRoom: 1, Rooms: 50, RoomCapacity: 400, TablesPerRoom: 100},
	}
	if err := c.Create(ctx, sh); err != nil {
		t.Fatal(err)
	}

	src, err := kubesource.New(env.Config, ns, "hall=main", logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ch := src.Watch(ctx)
	next(t, ch, "the selected region and a not-ready shard", func(top hall.Topology) bool {
		return len(top.Regions) == 1 && top.Regions[0].DisplayName == "Dou Dizhu 1" &&
			len(top.Shards) == 1 && !top.Shards[0].Ready
	})

	sh.Status = gamehallv1.RoomShardStatus{Address: "127.0.0.1", Port: 7000, InternalAddress: "127.0.0.1", InternalPort: 7001}
	meta.SetStatusCondition(&sh.Status.Conditions, metav1.Condition{Type: gamehallv1.ConditionReady, Status: metav1.ConditionTrue, Reason: gamehallv1.ReasonGameServerReady})
	if err := c.Status().Update(ctx, sh); err != nil {
		t.Fatal(err)
	}
	next(t, ch, "the shard ready", func(top hall.Topology) bool {
		return len(top.Shards) == 1 && top.Shards[0].Ready && top.Shards[0].InternalURL == "http://127.0.0.1:7001"
	})

	sh.Spec.Draining = true
	if err := c.Update(ctx, sh); err != nil {
		t.Fatal(err)
	}
	next(t, ch, "the shard draining", func(top hall.Topology) bool { return len(top.Shards) == 1 && top.Shards[0].Draining })

	if err := c.Delete(ctx, sh); err != nil {
		t.Fatal(err)
	}
	next(t, ch, "the shard gone", func(top hall.Topology) bool { return len(top.Shards) == 0 })
}
