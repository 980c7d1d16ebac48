package agonessdk

// The real Agones SDK sidecar cannot run here (it needs a Kubernetes cluster
// with Agones installed), so these tests stand in for it with an httptest
// server that checks each call's exact method, path and JSON body as the
// sidecar's REST API (shared/agones/*.swagger.json) defines them.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type call struct {
	method, path, body string
}

// sidecar records calls and answers from a table keyed by "METHOD path".
type sidecar struct {
	mu      sync.Mutex
	calls   []call
	answers map[string]func() (int, string)
}

func (s *sidecar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.calls = append(s.calls, call{r.Method, r.URL.EscapedPath(), string(b)})
	a := s.answers[r.Method+" "+r.URL.EscapedPath()]
	s.mu.Unlock()
	if a == nil {
		http.Error(w, `{"code":5,"message":"no such route"}`, http.StatusNotFound)
		return
	}
	code, body := a()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	io.WriteString(w, body)
}

func (s *sidecar) last(t *testing.T) call {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) == 0 {
		t.Fatal("no call reached the sidecar")
	}
	return s.calls[len(s.calls)-1]
}

func startSidecar(t *testing.T, answers map[string]func() (int, string)) (*sidecar, *Client) {
	t.Helper()
	s := &sidecar{answers: answers}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, New(portOf(t, srv.Listener.Addr()))
}

func portOf(t *testing.T, a net.Addr) int {
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

func ok(body string) func() (int, string) { return func() (int, string) { return 200, body } }

func jsonEqual(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("body %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("body = %s, want %s", gb, wb)
	}
}

func TestCalls(t *testing.T) {
	s, c := startSidecar(t, map[string]func() (int, string){
		"POST /ready":                     ok("{}"),
		"POST /health":                    ok("{}"),
		"POST /allocate":                  ok("{}"),
		"POST /shutdown":                  ok("{}"),
		"PUT /metadata/label":             ok("{}"),
		"PUT /metadata/annotation":        ok("{}"),
		"PATCH /v1beta1/counters/players": ok(`{"name":"players","count":"120","capacity":"20000"}`),
		"PATCH /v1beta1/counters/a%20b":   ok(`{}`),
	})
	ctx := context.Background()
	tests := []struct {
		name               string
		do                 func() error
		method, path, body string
	}{
		{"ready", func() error { return c.Ready(ctx) }, "POST", "/ready", `{}`},
		{"health", func() error { return c.Health(ctx) }, "POST", "/health", `{}`},
		{"allocate", func() error { return c.Allocate(ctx) }, "POST", "/allocate", `{}`},
		{"shutdown", func() error { return c.Shutdown(ctx) }, "POST", "/shutdown", `{}`},
		{"label", func() error { return c.SetLabel(ctx, "draining", "true") }, "PUT", "/metadata/label", `{"key":"draining","value":"true"}`},
		{"annotation", func() error { return c.SetAnnotation(ctx, "rooms", `{"a":1}`) }, "PUT", "/metadata/annotation", `{"key":"rooms","value":"{\"a\":1}"}`},
		{"counter", func() error { return c.SetCounter(ctx, "players", 120, 20000) }, "PATCH", "/v1beta1/counters/players", `{"count":"120","capacity":"20000"}`},
		{"counter name escaped", func() error { return c.SetCounter(ctx, "a b", 0, 1) }, "PATCH", "/v1beta1/counters/a%20b", `{"count":"0","capacity":"1"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err != nil {
				t.Fatal(err)
			}
			got := s.last(t)
			if got.method != tc.method || got.path != tc.path {
				t.Errorf("call = %s %s, want %s %s", got.method, got.path, tc.method, tc.path)
			}
			jsonEqual(t, got.body, tc.body)
		})
	}
}

const gameServerJSON = `{
  "object_meta": {"name": "eu-1-shard-3-x7", "namespace": "games", "uid": "u-1", "resource_version": "42",
    "generation": "3", "creation_timestamp": "1764417600",
    "labels": {"gamehall.dev/draining": "true", "gamehall.dev/region": "eu-1"},
    "annotations": {"a": "b"}},
  "spec": {"health": {"disabled": false, "period_seconds": 5}},
  "status": {"state": "Ready", "address": "10.0.0.7",
    "addresses": [{"type": "InternalIP", "address": "10.0.0.7"}],
    "ports": [{"name": "players", "port": 7654}],
    "counters": {"players": {"count": "310", "capacity": "20000"}, "rooms": {"count": 50, "capacity": 50}}}
}`

func TestGameServer(t *testing.T) {
	s, c := startSidecar(t, map[string]func() (int, string){"GET /gameserver": ok(gameServerJSON)})
	gs, err := c.GameServer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.last(t); got.method != "GET" || got.path != "/gameserver" || got.body != "" {
		t.Errorf("call = %+v, want GET /gameserver without body", got)
	}
	if gs.ObjectMeta.Name != "eu-1-shard-3-x7" || gs.ObjectMeta.Namespace != "games" || gs.ObjectMeta.Generation != 3 {
		t.Errorf("object_meta = %+v", gs.ObjectMeta)
	}
	if gs.ObjectMeta.Labels["gamehall.dev/draining"] != "true" || gs.ObjectMeta.Annotations["a"] != "b" {
		t.Errorf("labels/annotations = %v %v", gs.ObjectMeta.Labels, gs.ObjectMeta.Annotations)
	}
	if gs.Status.State != "Ready" || gs.Status.Address != "10.0.0.7" || len(gs.Status.Ports) != 1 || gs.Status.Ports[0] != (Port{"players", 7654}) {
		t.Errorf("status = %+v", gs.Status)
	}
	if gs.Status.Counters["players"] != (Counter{310, 20000}) || gs.Status.Counters["rooms"] != (Counter{50, 50}) {
		t.Errorf("counters = %+v (strings and numbers must both decode)", gs.Status.Counters)
	}
}

func TestErrors(t *testing.T) {
	_, c := startSidecar(t, map[string]func() (int, string){
		"PATCH /v1beta1/counters/players": func() (int, string) {
			return 400, `{"code":11,"message":"count 30000 is out of range [0,20000]"}`
		},
		"POST /ready":     func() (int, string) { return 500, "boom" },
		"GET /gameserver": ok(`{"status": {"counters": {"players": {"count": "x"}}}}`),
	})
	ctx := context.Background()

	err := c.SetCounter(ctx, "players", 30000, 40000)
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 400 || e.Message != "count 30000 is out of range [0,20000]" {
		t.Errorf("counter error = %v, want the sidecar's message", err)
	}
	if err := c.Ready(ctx); err == nil || !strings.Contains(err.Error(), "POST /ready: HTTP 500: boom") {
		t.Errorf("ready error = %v", err)
	}
	if _, err := c.GameServer(ctx); err == nil || !strings.Contains(err.Error(), "decode GameServer") {
		t.Errorf("bad JSON error = %v", err)
	}
	// Bad arguments are refused before any call.
	for _, tc := range []struct {
		name            string
		count, capacity int64
		want            string
	}{
		{"", 1, 2, "counter name is empty"},
		{"players", 3, 2, "count 3 outside [0, capacity 2]"},
		{"players", -1, 2, "count -1 outside"},
	} {
		if err := c.SetCounter(ctx, tc.name, tc.count, tc.capacity); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetCounter(%q, %d, %d) = %v, want %q", tc.name, tc.count, tc.capacity, err, tc.want)
		}
	}
}

func TestOff(t *testing.T) {
	c := New(0)
	if c != nil {
		t.Fatalf("New(0) = %v, want the nil off client", c)
	}
	ctx := context.Background()
	for name, err := range map[string]error{
		"Ready": c.Ready(ctx), "Health": c.Health(ctx), "Allocate": c.Allocate(ctx), "Shutdown": c.Shutdown(ctx),
		"SetLabel": c.SetLabel(ctx, "k", "v"), "SetAnnotation": c.SetAnnotation(ctx, "k", "v"), "SetCounter": c.SetCounter(ctx, "players", 5, 1),
		"WatchMetadata": c.WatchMetadata(ctx, func(ObjectMeta) { t.Error("off client called fn") }),
	} {
		if err != nil {
			t.Errorf("off %s = %v, want nil", name, err)
		}
	}
	if gs, err := c.GameServer(ctx); gs != nil || err != nil {
		t.Errorf("off GameServer = %v, %v", gs, err)
	}
}

// The sidecar may come up after the game server: calls wait for it.
func TestRetriesUntilSidecarUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	port := portOf(t, l.Addr())
	l.Close() // nothing listens: connection refused

	c := New(port)
	c.RetryBase, c.RetryMax = 5*time.Millisecond, 20*time.Millisecond
	var dials atomic.Int32
	c.HTTP.Transport = &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, a)
	}}
	done := make(chan error, 1)
	go func() { done <- c.Ready(context.Background()) }()

	// Start the sidecar only after the client was refused three times.
	for deadline := time.Now().Add(20 * time.Second); dials.Load() < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("client dialled %d times in 20s, want retries", dials.Load())
		}
		time.Sleep(time.Millisecond)
	}
	s := &sidecar{answers: map[string]func() (int, string){"POST /ready": ok("{}")}}
	var l2 net.Listener
	for i := 0; ; i++ {
		if l2, err = net.Listen("tcp", addr); err == nil {
			break
		}
		if i > 100 {
			t.Skipf("port %s taken by another process meanwhile: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv := &http.Server{Handler: s}
	go srv.Serve(l2)
	t.Cleanup(func() { srv.Close() })

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Ready after the sidecar came up: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Ready did not reach the sidecar once it was up")
	}
	if got := s.last(t); got.method != "POST" || got.path != "/ready" {
		t.Errorf("call = %+v", got)
	}
}

func TestRetryBoundedByContext(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := portOf(t, l.Addr())
	l.Close()
	c := New(port)
	c.RetryBase, c.RetryMax = time.Millisecond, 5*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := c.Health(ctx)
	// The deadline ends either the wait between attempts or an attempt.
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "agonessdk: POST /health") {
		t.Errorf("err = %v, want a deadline error naming the call", err)
	}
}

func TestWatchMetadata(t *testing.T) {
	var mu sync.Mutex
	label := "false"
	var polls int
	_, c := startSidecar(t, map[string]func() (int, string){
		"GET /gameserver": func() (int, string) {
			mu.Lock()
			defer mu.Unlock()
			polls++
			if polls == 3 {
				return 503, `{"message":"sidecar restarting"}`
			}
			return 200, `{"object_meta":{"labels":{"gamehall.dev/draining":"` + label + `"}}}`
		},
	})
	c.PollInterval = 2 * time.Millisecond
	var pollErrs []error
	c.OnPollError = func(err error) { mu.Lock(); pollErrs = append(pollErrs, err); mu.Unlock() }

	ctx, cancel := context.WithCancel(context.Background())
	seen := make(chan bool, 10)
	done := make(chan error, 1)
	go func() {
		done <- c.WatchMetadata(ctx, func(m ObjectMeta) { seen <- m.Labels["gamehall.dev/draining"] == "true" })
	}()

	next := func() bool {
		select {
		case d := <-seen:
			return d
		case <-time.After(20 * time.Second):
			t.Fatal("no draining callback")
		}
		return false
	}
	if next() {
		t.Fatal("first value = true, want false")
	}
	mu.Lock()
	label = "true"
	mu.Unlock()
	if !next() {
		t.Fatal("after the label was set: false, want true")
	}
	mu.Lock()
	label = "false"
	mu.Unlock()
	if next() {
		t.Fatal("after the label was cleared: true, want false")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("WatchMetadata returned %v, want context.Canceled", err)
	}
	select {
	case d := <-seen:
		t.Errorf("extra callback %v: fn must fire only on change", d)
	default:
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pollErrs) != 1 || !strings.Contains(pollErrs[0].Error(), "sidecar restarting") {
		t.Errorf("poll errors = %v, want the one 503", pollErrs)
	}
}

func FuzzDecodeGameServer(f *testing.F) {
	f.Add([]byte(gameServerJSON))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"status":{"counters":{"p":{"count":"9223372036854775807"}}}}`))
	f.Add([]byte(`{"object_meta":{"generation":"-1"}}`))
	f.Add([]byte(`{"status":{"counters":{"p":{"count":1e3}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		gs, err := DecodeGameServer(data)
		if err != nil {
			if gs != nil {
				t.Fatal("error with a result")
			}
			return
		}
		// Whatever decodes must survive a round trip unchanged.
		b, err := json.Marshal(gs)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		gs2, err := DecodeGameServer(b)
		if err != nil {
			t.Fatalf("decode of own encoding %s: %v", b, err)
		}
		b2, _ := json.Marshal(gs2)
		if string(b) != string(b2) {
			t.Fatalf("round trip changed %s to %s", b, b2)
		}
	})
}
