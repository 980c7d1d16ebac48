package controllers

// envtest suite: a real etcd and kube-apiserver (built by `make envtest`) with
// gamehall's CRDs and the real Agones GameServer CRD (config/agones). There is
// no Agones controller, no kube-controller-manager and no kubelet here, so the
// tests play them: they move GameServers to Ready and set their address and
// counters as Agones would, and set Deployment status as the Deployment
// controller would. The operator's three reconcilers run in one manager for
// the whole package, as ServiceAccount gamehall-system/gamehall-operator with
// exactly config/rbac (rbac_test.go); each test works in its own namespace.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/internal/testenv"
)

var (
	env      *testenv.Env
	startErr error // the operator's, reported by each test
)

// TestMain runs one control plane and one operator for the package, and stops
// the operator before the control plane.
func TestMain(m *testing.M) {
	e, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env = e
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	startErr = startOperator(ctx, done)
	code := m.Run()
	cancel()
	if startErr == nil {
		<-done
	}
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the test control plane:", err)
	}
	os.Exit(code)
}

// Generous deadlines: two cores shared with other suites.
const (
	wait = 20 * time.Second
	poll = 50 * time.Millisecond
)

func startOperator(ctx context.Context, done chan struct{}) error {
	// Reconcile errors to the test output; the rest is noise here.
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	scheme, err := NewScheme()
	if err != nil {
		return err
	}
	cfg, err := asOperator(ctx, env.Client, env.Config, env.Root)
	if err != nil {
		return fmt.Errorf("config/rbac: %w", err)
	}
	cacheOpts, err := CacheOptions(cfg, "")
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		Cache:                  cacheOpts,
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	conf := DefaultConfig()
	conf.ReplaceBackoffBase, conf.ReplaceBackoffMax = time.Second, 4*time.Second
	if err := Setup(ctx, mgr, conf); err != nil {
		return err
	}
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "operator stopped:", err)
		}
	}()
	return nil
}

// testSettings are those of the Hall setup puts in every test namespace.
var testSettings = HallSettings{Hall: "main", VerificationKeySecret: "keys", RedisAddress: "redis.test:6379"}

// setup gives a test its namespace, with a Hall "main" that lists every
// Region there (D1: shards take their Hall's settings; testSettings).
func setup(t *testing.T) (context.Context, string, Gomega) {
	t.Helper()
	ctx, ns, g := setupWithoutHall(t)
	g.Expect(env.Client.Create(ctx, hallFor(ns, testSettings.Hall, testSettings.RedisAddress, testSettings.VerificationKeySecret, nil))).To(Succeed())
	return ctx, ns, g
}

// setupWithoutHall gives a test an empty namespace.
func setupWithoutHall(t *testing.T) (context.Context, string, Gomega) {
	t.Helper()
	if startErr != nil {
		t.Fatalf("starting the operator: %v", startErr)
	}
	ns := env.Namespace(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(wait)
	g.SetDefaultEventuallyPollingInterval(poll)
	g.SetDefaultConsistentlyDuration(2 * time.Second)
	g.SetDefaultConsistentlyPollingInterval(100 * time.Millisecond)
	return ctx, ns, g
}

// region returns a small Region: 2 rooms × 10 seats = 20 per shard, 50 %
// target, so every 10 players need a shard.
func region(ns, name string, min, max int32, delay time.Duration) *gamehallv1.Region {
	return &gamehallv1.Region{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"gamehall.dev/game": "doudizhu"}},
		Spec: gamehallv1.RegionSpec{
			Game: gamehallv1.GameDouDizhu, RoomsPerShard: 2, RoomCapacity: 10, TablesPerRoom: 3,
			MinShards: min, MaxShards: max,
			Scaling:  gamehallv1.ScalingSpec{TargetOccupancyPercent: 50, ScaleDownDelay: &metav1.Duration{Duration: delay}},
			Template: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: GameServerContainer, Image: "gamehall:test"}}}},
		},
	}
}

// agones plays the Agones controller and the game servers in ns until the
// test ends: every new GameServer goes Ready with an address, a port and its
// counters, as the sidecar's SDK calls would make it; and each game server
// answers the operator's drain label as gameserver.Server does: it confirms
// the drain (LabelDrainConfirmed), withdraws the confirmation on an
// un-drain, and, drained with no players, shuts down (state Shutdown, which
// Agones follows by deleting the GameServer).
func agones(ctx context.Context, t *testing.T, ns string) {
	agonesOnly(ctx, t, ns)
	go func() {
		for ctx.Err() == nil {
			var list agonesv1.GameServerList
			if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err == nil {
				for i := range list.Items {
					playShard(ctx, &list.Items[i])
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

// playShard is one look of a game server at its GameServer (see agones).
func playShard(ctx context.Context, gs *agonesv1.GameServer) {
	if !serving(gs.Status.State) || !gs.DeletionTimestamp.IsZero() {
		return
	}
	asked := gs.Labels[gamehallv1.LabelDraining] == "true"
	confirmed := gs.Labels[gamehallv1.LabelDrainConfirmed] == "true"
	patch := client.MergeFrom(gs.DeepCopy())
	switch {
	case asked && confirmed && gs.Status.Counters[CounterPlayers].Count == 0:
		gs.Status.State = agonesv1.GameServerStateShutdown
		if env.Client.Patch(ctx, gs, patch) == nil {
			_ = env.Client.Delete(ctx, gs)
		}
		return
	case asked != confirmed:
		gs.Labels[gamehallv1.LabelDrainConfirmed] = strconv.FormatBool(asked)
	default:
		return
	}
	_ = env.Client.Patch(ctx, gs, patch)
}

// agonesOnly plays the Agones controller alone: GameServers go Ready, and
// nothing answers a drain (the test plays the game server).
func agonesOnly(ctx context.Context, t *testing.T, ns string) {
	go func() {
		port := int32(7100)
		for ctx.Err() == nil {
			var list agonesv1.GameServerList
			if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err == nil {
				for i := range list.Items {
					gs := &list.Items[i]
					if gs.Status.State != "" || !gs.DeletionTimestamp.IsZero() {
						continue
					}
					port++
					patch := client.MergeFrom(gs.DeepCopy())
					gs.Status.State = agonesv1.GameServerStateReady
					gs.Status.Address = "127.0.0.1"
					gs.Status.Ports = []agonesv1.GameServerStatusPort{{Name: PlayersPortName, Port: port}}
					gs.Status.Addresses = []corev1.NodeAddress{{Type: "PodIP", Address: "10.0.0." + strconv.Itoa(int(port%250))}}
					gs.Status.Counters = map[string]agonesv1.CounterStatus{
						CounterPlayers: {Count: 0, Capacity: gs.Spec.Counters[CounterPlayers].Capacity},
					}
					_ = env.Client.Patch(ctx, gs, patch)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

func shardKey(ns, region string, index int32) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: ShardName(region, index)}
}

// gameServerOf is the shard's current GameServer, once it is Ready.
func gameServerOf(ctx context.Context, g Gomega, ns, shard string) *agonesv1.GameServer {
	var gs *agonesv1.GameServer
	g.Eventually(func(g Gomega) {
		var s gamehallv1.RoomShard
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: shard}, &s)).To(Succeed())
		g.Expect(s.Status.GameServer).NotTo(BeEmpty())
		gs = &agonesv1.GameServer{}
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: s.Status.GameServer}, gs)).To(Succeed())
		g.Expect(gs.Status.State).To(Equal(agonesv1.GameServerStateReady))
	}).Should(Succeed())
	return gs
}

// setPlayers is the game server reporting its players through the SDK; it
// returns once the RoomShard mirrors the count (or, emptied, started going).
func setPlayers(ctx context.Context, g Gomega, ns, shard string, n int64) {
	g.Eventually(func(g Gomega) {
		gs := gameServerOf(ctx, g, ns, shard)
		patch := client.MergeFrom(gs.DeepCopy())
		c := gs.Status.Counters[CounterPlayers]
		c.Count = n
		gs.Status.Counters[CounterPlayers] = c
		g.Expect(env.Client.Patch(ctx, gs, patch)).To(Succeed())
	}).Should(Succeed())
	g.Eventually(func(g Gomega) {
		var s gamehallv1.RoomShard
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: shard}, &s)
		if apierrors.IsNotFound(err) || (err == nil && s.Spec.Draining && n == 0) {
			return
		}
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(s.Status.Players).To(Equal(n))
	}).Should(Succeed())
}

func shardIndexes(ctx context.Context, g Gomega, ns, region string) []int32 {
	var list gamehallv1.RoomShardList
	g.Expect(env.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{gamehallv1.LabelRegion: region})).To(Succeed())
	var idx []int32
	for _, s := range list.Items {
		idx = append(idx, s.Spec.Index)
	}
	return idx
}

// events lists the events.k8s.io events about one object with a reason.
func eventNotes(ctx context.Context, g Gomega, ns, name, reason string) []string {
	var list eventsv1.EventList
	g.Expect(env.Client.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var notes []string
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			notes = append(notes, e.Type+": "+e.Note)
		}
	}
	return notes
}

func condition(conds []metav1.Condition, typ string) metav1.Condition {
	for _, c := range conds {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

func gone(ctx context.Context, o client.Object) func() bool {
	return func() bool {
		return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(o), o))
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func itoa(i int) string { return strconv.Itoa(i) }

func corev1Container(name, image string) corev1.Container {
	return corev1.Container{Name: name, Image: image}
}

func envVar(k, v string) corev1.EnvVar { return corev1.EnvVar{Name: k, Value: v} }
