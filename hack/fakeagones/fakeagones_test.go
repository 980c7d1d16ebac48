package main

// These tests run fakeagones against a real kube-apiserver (envtest, with the
// real Agones GameServer CRD) and talk to its sidecar with the game server's
// own SDK client (gameserver/agonessdk) over real loopback sockets. The game
// server is a small shell script: what is under test is the fake Agones (the
// process it starts, the environment and Secrets it hands over, the state it
// writes), and hack/e2e.sh runs it with the real `gamehall gameserver`.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/controllers"
	"github.com/gamehall/gamehall/gameserver/agonessdk"
	"github.com/gamehall/gamehall/internal/testenv"
)

var (
	env      *testenv.Env
	podPort  int // the "pod internal port" fakeagones forwards
	startErr error
)

// fakeGameServer records what it was given and then lives, crashes or ends
// as $TEST_MODE says; on SIGTERM it records that and exits 0.
const fakeGameServer = `#!/bin/sh
env | sort > "$TEST_OUT/env"
echo "$@" > "$TEST_OUT/args"
cp "$GAMEHALL_SIGNING_KEYS/k1" "$TEST_OUT/k1"
case "$TEST_MODE" in
  crash) exit 3 ;;
  clean) exit 0 ;;
esac
trap 'echo term > "$TEST_OUT/term"; exit 0' TERM
while :; do sleep 0.1; done
`

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		// Fuzzing needs no control plane, and every fuzz worker would
		// start its own.
		startErr = errors.New("no control plane while fuzzing")
		os.Exit(m.Run())
	}
	os.Exit(func() int {
		e, err := testenv.Start()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		env = e
		defer e.Stop()
		dir, err := os.MkdirTemp("", "fakeagones-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		ctx, cancel := context.WithCancel(context.Background())
		ag, done, err := startAgones(ctx, dir)
		startErr = err
		code := m.Run()
		cancel()
		if err == nil {
			<-done
			ag.StopAll(context.Background())
		}
		return code
	}())
}

func startAgones(ctx context.Context, dir string) (*Agones, chan struct{}, error) {
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	bin := filepath.Join(dir, "gamehall")
	if err := os.WriteFile(bin, []byte(fakeGameServer), 0o755); err != nil {
		return nil, nil, err
	}
	p, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	podPort = p
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		return nil, nil, err
	}
	ag := &Agones{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Log: ctrl.Log.WithName("fakeagones"),
		Binary: bin, LogDir: dir, PodInternalPort: podPort, Grace: 5 * time.Second}
	if err := ag.SetupWithManager(mgr); err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "fakeagones stopped:", err)
		}
	}()
	return ag, done, nil
}

type fixture struct {
	ctx context.Context
	ns  string
	out string // where the script writes
	g   Gomega
}

func setup(t *testing.T) *fixture {
	t.Helper()
	if startErr != nil {
		t.Fatalf("starting fakeagones: %v", startErr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	g := NewWithT(t)
	// Generous: two cores shared with other suites.
	g.SetDefaultEventuallyTimeout(20 * time.Second)
	g.SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	f := &fixture{ctx: ctx, ns: env.Namespace(t), out: t.TempDir(), g: g}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "zone-keys", Namespace: f.ns}, Data: map[string][]byte{"k1": []byte("secret-key-material-0123456789")}}
	g.Expect(env.Client.Create(ctx, sec)).To(Succeed())
	return f
}

// gameServer creates the GameServer the operator would make for shard 0 of
// a Region of 2 rooms × 20 seats listed by a Hall whose Secret is "zone-keys".
func (f *fixture) gameServer(mode string) *agonesv1.GameServer {
	rg := &gamehallv1.Region{ObjectMeta: metav1.ObjectMeta{Name: "zone", Namespace: f.ns}, Spec: gamehallv1.RegionSpec{
		Game: gamehallv1.GameDouDizhu, RoomsPerShard: 2, RoomCapacity: 20, TablesPerRoom: 6,
		Template: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: controllers.GameServerContainer, Image: "gamehall:test", Args: []string{"gameserver", "-v", "1"},
			Env: []corev1.EnvVar{{Name: "TEST_OUT", Value: f.out}, {Name: "TEST_MODE", Value: mode}},
		}}}},
	}}
	shard := &gamehallv1.RoomShard{ObjectMeta: metav1.ObjectMeta{Name: "zone-0", Namespace: f.ns}, Spec: gamehallv1.RoomShardSpec{
		Region: "zone", Index: 0, Game: gamehallv1.GameDouDizhu, FirstRoom: 1, Rooms: 2, RoomCapacity: 20, TablesPerRoom: 6}}
	settings := controllers.HallSettings{Hall: "main", SigningKeySecret: "zone-keys", RedisAddress: "127.0.0.1:1"}
	gs, err := controllers.GameServerFor(shard, controllers.TemplateFor(rg, settings, ""), 0)
	f.g.Expect(err).NotTo(HaveOccurred())
	f.g.Expect(env.Client.Create(f.ctx, gs)).To(Succeed())
	return gs
}

func (f *fixture) get(gs *agonesv1.GameServer) func(Gomega) *agonesv1.GameServer {
	return func(g Gomega) *agonesv1.GameServer {
		var cur agonesv1.GameServer
		g.Expect(env.Client.Get(f.ctx, client.ObjectKeyFromObject(gs), &cur)).To(Succeed())
		return &cur
	}
}

// env reads the environment the script was started with.
func (f *fixture) env(g Gomega) map[string]string {
	b, err := os.ReadFile(filepath.Join(f.out, "env"))
	g.Expect(err).NotTo(HaveOccurred())
	vars := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			vars[k] = v
		}
	}
	g.Expect(vars).To(HaveKey("AGONES_SDK_HTTP_PORT"))
	return vars
}

func TestGameServerLifecycle(t *testing.T) {
	f := setup(t)
	g := f.g
	gs := f.gameServer("run")

	// Started with the container's environment, its own ports and the keys.
	var vars map[string]string
	g.Eventually(func(g Gomega) { vars = f.env(g) }).Should(Succeed())
	for _, k := range []string{"GAMEHALL_PORT", "GAMEHALL_INTERNAL_PORT"} {
		g.Expect(vars[k]).NotTo(BeElementOf("", "7000", "7001"), k+" is a port of this machine")
	}
	g.Expect(vars).To(HaveKeyWithValue("GAMEHALL_SHARD", "zone-0"))
	g.Expect(vars).To(HaveKeyWithValue("GAMEHALL_ROOMS", "2"))
	g.Expect(vars).To(HaveKeyWithValue("GAMEHALL_REDIS", "127.0.0.1:1"))
	g.Expect(vars["GAMEHALL_SIGNING_KEYS"]).NotTo(Equal(controllers.HallSigningKeysDir), "the mount path is rewritten to a local dir")
	g.Eventually(func() ([]byte, error) { return os.ReadFile(filepath.Join(f.out, "k1")) }).Should(BeEquivalentTo("secret-key-material-0123456789"))
	args, err := os.ReadFile(filepath.Join(f.out, "args"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(strings.TrimSpace(string(args))).To(Equal("gameserver -v 1"))

	// Scheduled with the addresses and ports, and the spec's counters.
	var pod string
	g.Eventually(func(g Gomega) {
		cur := f.get(gs)(g)
		g.Expect(cur.Status.State).To(Equal(agonesv1.GameServerStateScheduled))
		g.Expect(cur.Status.Address).To(Equal("127.0.0.1"))
		g.Expect(cur.Status.Ports).To(Equal([]agonesv1.GameServerStatusPort{{Name: controllers.PlayersPortName, Port: int32(atoi(vars["GAMEHALL_PORT"]))}}))
		g.Expect(cur.Status.Counters).To(HaveKeyWithValue(controllers.CounterPlayers, agonesv1.CounterStatus{Count: 0, Capacity: 40}))
		for _, a := range cur.Status.Addresses {
			if a.Type == "PodIP" {
				pod = a.Address
			}
		}
		g.Expect(pod).To(HavePrefix("127.0."))
	}).Should(Succeed())

	// The pod IP's internal port reaches the process's internal port.
	ln, err := net.Listen("tcp", "127.0.0.1:"+vars["GAMEHALL_INTERNAL_PORT"])
	g.Expect(err).NotTo(HaveOccurred())
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("internal"))
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp", net.JoinHostPort(pod, strconv.Itoa(podPort)), 5*time.Second)
	g.Expect(err).NotTo(HaveOccurred())
	got, err := io.ReadAll(c)
	c.Close()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(got)).To(Equal("internal"))

	// The SDK, through the game server's own client.
	sdk := agonessdk.New(atoi(vars["AGONES_SDK_HTTP_PORT"]))
	g.Expect(sdk.Ready(f.ctx)).To(Succeed())
	g.Eventually(func(g Gomega) { g.Expect(f.get(gs)(g).Status.State).To(Equal(agonesv1.GameServerStateReady)) }).Should(Succeed())
	g.Expect(sdk.Health(f.ctx)).To(Succeed())
	g.Expect(sdk.SetCounter(f.ctx, controllers.CounterPlayers, 7, 40)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(f.get(gs)(g).Status.Counters).To(HaveKeyWithValue(controllers.CounterPlayers, agonesv1.CounterStatus{Count: 7, Capacity: 40}))
	}).Should(Succeed())
	g.Expect(sdk.Allocate(f.ctx)).To(Succeed())
	g.Expect(sdk.SetLabel(f.ctx, "draining", "true")).To(Succeed())
	// The operator's drain label, as GET /gameserver shows it to the shard.
	patch := client.MergeFrom(f.get(gs)(g))
	cur := f.get(gs)(g)
	cur.Labels[gamehallv1.LabelDraining] = "true"
	g.Expect(env.Client.Patch(f.ctx, cur, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		seen, err := sdk.GameServer(f.ctx)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(seen.ObjectMeta.Name).To(Equal(gs.Name))
		g.Expect(seen.ObjectMeta.Labels).To(HaveKeyWithValue(gamehallv1.LabelDraining, "true"))
		g.Expect(seen.ObjectMeta.Labels).To(HaveKeyWithValue("agones.dev/sdk-draining", "true"))
		g.Expect(seen.Status.State).To(Equal(string(agonesv1.GameServerStateAllocated)))
		g.Expect(seen.Status.Ports).To(Equal([]agonessdk.Port{{Name: controllers.PlayersPortName, Port: int32(atoi(vars["GAMEHALL_PORT"]))}}))
		g.Expect(int64(seen.Status.Counters[controllers.CounterPlayers].Count)).To(Equal(int64(7)))
	}).Should(Succeed())

	// Bad requests get the gateway's error shape and change nothing.
	base := "http://127.0.0.1:" + vars["AGONES_SDK_HTTP_PORT"]
	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"unknown counter", "PATCH", "/v1beta1/counters/seats", `{"count":"1"}`, 404, "counter not found: seats"},
		{"count over capacity", "PATCH", "/v1beta1/counters/players", `{"count":"41"}`, 400, "count 41 out of range [0, 40]"},
		{"count below zero", "PATCH", "/v1beta1/counters/players", `{"countDiff":"-8"}`, 400, "count -1 out of range"},
		{"negative capacity", "PATCH", "/v1beta1/counters/players", `{"capacity":"-1"}`, 400, "capacity -1 is negative"},
		{"not a number", "PATCH", "/v1beta1/counters/players", `{"count":"seven"}`, 400, "int64 value"},
		{"not JSON", "PUT", "/metadata/label", `{"key":`, 400, "body"},
		{"empty label key", "PUT", "/metadata/label", `{"key":"","value":"x"}`, 400, "key is empty"},
		{"no such endpoint", "POST", "/v1/nothing", `{}`, 404, "no SDK endpoint POST /v1/nothing"},
	} {
		req, err := http.NewRequestWithContext(f.ctx, tt.method, base+tt.path, strings.NewReader(tt.body))
		g.Expect(err).NotTo(HaveOccurred())
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred(), tt.name)
		var e struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		g.Expect(json.NewDecoder(resp.Body).Decode(&e)).To(Succeed(), tt.name)
		resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(tt.status), tt.name)
		g.Expect(e.Message).To(ContainSubstring(tt.msg), tt.name)
		g.Expect(e.Code).NotTo(BeZero(), tt.name)
	}
	g.Expect(f.get(gs)(g).Status.Counters).To(HaveKeyWithValue(controllers.CounterPlayers, agonesv1.CounterStatus{Count: 7, Capacity: 40}))
	// countDiff adds, as in Agones.
	resp, err := http.DefaultClient.Do(must(http.NewRequestWithContext(f.ctx, "PATCH", base+"/v1beta1/counters/players", strings.NewReader(`{"countDiff":"-2"}`))))
	g.Expect(err).NotTo(HaveOccurred())
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	g.Expect(string(body)).To(MatchJSON(`{"name":"players","count":"5","capacity":"40"}`))

	// Deleted → SIGTERM.
	g.Expect(env.Client.Delete(f.ctx, gs)).To(Succeed())
	g.Eventually(func() ([]byte, error) { return os.ReadFile(filepath.Join(f.out, "term")) }).Should(BeEquivalentTo("term\n"))
}

// How the process ends decides the GameServer's fate, as with Agones.
func TestProcessEnd(t *testing.T) {
	tests := []struct {
		name  string
		mode  string
		state agonesv1.GameServerState // "" : deleted
	}{
		{"crash is Unhealthy", "crash", agonesv1.GameServerStateUnhealthy},
		{"clean exit is Shutdown and deleted", "clean", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			gs := f.gameServer(tt.mode)
			if tt.state == "" {
				f.g.Eventually(func() bool {
					err := env.Client.Get(f.ctx, client.ObjectKeyFromObject(gs), &agonesv1.GameServer{})
					return apierrors.IsNotFound(err)
				}).Should(BeTrue())
				return
			}
			f.g.Eventually(func(g Gomega) { g.Expect(f.get(gs)(g).Status.State).To(Equal(tt.state)) }).Should(Succeed())
		})
	}
}

// POST /shutdown makes the GameServer Shutdown, deletes it, and stops the process.
func TestShutdown(t *testing.T) {
	f := setup(t)
	gs := f.gameServer("run")
	var vars map[string]string
	f.g.Eventually(func(g Gomega) { vars = f.env(g) }).Should(Succeed())
	sdk := agonessdk.New(atoi(vars["AGONES_SDK_HTTP_PORT"]))
	f.g.Expect(sdk.Shutdown(f.ctx)).To(Succeed())
	f.g.Eventually(func() bool {
		return apierrors.IsNotFound(env.Client.Get(f.ctx, client.ObjectKeyFromObject(gs), &agonesv1.GameServer{}))
	}).Should(BeTrue())
	f.g.Eventually(func() ([]byte, error) { return os.ReadFile(filepath.Join(f.out, "term")) }).Should(BeEquivalentTo("term\n"))
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The sidecar's int64 decoder, on the counter update body as it arrives:
// whatever decodes re-encodes (as the gateway writes int64s) to the same value.
func FuzzCounterUpdateBody(f *testing.F) {
	for _, s := range []string{`{"count":"42"}`, `{"count":42,"capacity":"100"}`, `{"countDiff":"-1"}`, `{"count":null}`,
		`{"count":""}`, `{"count":"9223372036854775808"}`, `{"count":{}}`, `{"count":"1e3"}`, `{"count":"\"7\""}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var req counterUpdate
		if json.Unmarshal([]byte(s), &req) != nil {
			return
		}
		for _, v := range []*agonessdk.Int64{req.Count, req.Capacity, req.CountDiff} {
			if v == nil {
				continue
			}
			var back agonessdk.Int64
			if err := json.Unmarshal([]byte(`"`+strconv.FormatInt(int64(*v), 10)+`"`), &back); err != nil || back != *v {
				t.Fatalf("%q: %d does not round-trip: %v %+v", s, *v, err, back)
			}
		}
	})
}
