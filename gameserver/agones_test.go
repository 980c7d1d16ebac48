package gameserver_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/presence"
)

// fakeSDK stands in for the Agones sidecar, which cannot run here; it records
// the calls the shard makes. The first Ready calls fail, like a sidecar that
// starts after the game server.
type fakeSDK struct {
	mu          sync.Mutex
	readyFails  int
	calls       []string
	counters    map[string]int64
	labels      map[string]string
	annotations map[string]string
	drainingFn  func(gameserver.DrainRequest)
	shutdownHit bool
}

func (f *fakeSDK) record(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

func (f *fakeSDK) Ready(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.readyFails > 0 {
		f.readyFails--
		return errors.New("connection refused")
	}
	f.calls = append(f.calls, "ready")
	return nil
}
func (f *fakeSDK) Health(context.Context) error   { return nil }
func (f *fakeSDK) Allocate(context.Context) error { f.record("allocate"); return nil }
func (f *fakeSDK) Shutdown(context.Context) error {
	f.mu.Lock()
	f.shutdownHit = true
	f.mu.Unlock()
	f.record("shutdown")
	return nil
}
func (f *fakeSDK) SetCounter(_ context.Context, name string, count, capacity int64) error {
	f.mu.Lock()
	f.counters[name] = count
	f.mu.Unlock()
	f.record(fmt.Sprintf("counter %s=%d/%d", name, count, capacity))
	return nil
}
func (f *fakeSDK) SetLabel(_ context.Context, k, v string) error {
	f.mu.Lock()
	f.labels[k] = v
	f.mu.Unlock()
	f.record(fmt.Sprintf("label %s=%s", k, v))
	return nil
}
func (f *fakeSDK) SetAnnotation(_ context.Context, k, v string) error {
	f.mu.Lock()
	f.annotations[k] = v
	f.mu.Unlock()
	f.record("annotation " + k + "=" + v)
	return nil
}

func (f *fakeSDK) labelIs(k, v string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.labels[k] == v
}
func (f *fakeSDK) WatchDrain(ctx context.Context, fn func(gameserver.DrainRequest)) error {
	f.mu.Lock()
	f.drainingFn = fn
	f.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

func (f *fakeSDK) has(call string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c == call {
			return true
		}
	}
	return false
}

func TestAgonesLifecycle(t *testing.T) {
	sdk := &fakeSDK{readyFails: 2, counters: map[string]int64{}, labels: map[string]string{}, annotations: map[string]string{}}
	pres := presence.NewMemory()
	defer pres.Close()
	keys := newKeys(t)
	srv, err := gameserver.New(gameserver.Config{Rooms: 2, RoomCapacity: 10, TablesPerRoom: 1, ReportInterval: 50 * time.Millisecond,
		Addr: "127.0.0.1:0", InternalAddr: "127.0.0.1:0"}, gameserver.Deps{Verifier: keys, Presence: pres, SDK: sdk, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, keys: keys, pres: pres, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- srv.Run(ctx) }()
	t.Cleanup(e.stop)

	eventually(t, "ready after the sidecar came up", func() bool { return sdk.has("ready") })
	// The first report lists the empty rooms.
	eventually(t, "first room report", func() bool {
		return sdk.has(`annotation rooms={"firstRoom":1,"capacity":10,"players":[0,0]}`) && sdk.has("counter players=0/20")
	})
	if sdk.has("allocate") {
		t.Fatal("allocated an empty shard")
	}
	c := e.dial("a")
	if _, err := c.EnterRoom(ctx20(t), 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "allocate on the first player", func() bool { return sdk.has("allocate") })
	eventually(t, "players counter and room report", func() bool {
		return sdk.has("counter players=1/20") && sdk.has(`annotation rooms={"firstRoom":1,"capacity":10,"players":[1,0]}`)
	})
	if err := c.LeaveRoom(ctx20(t)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "players counter back to 0", func() bool { return sdk.has("counter players=0/20") })
	// The operator's draining label drains the shard; empty, it shuts down.
	sdk.drainFn(t)(true)
	select {
	case <-e.done:
		e.stopOnce.Do(func() {})
	case <-time.After(20 * time.Second):
		t.Fatal("a drained, empty shard did not stop")
	}
	// Empty, it may shut down before its confirmation is out: never a
	// withdrawn one.
	if !sdk.has("shutdown") || sdk.labelIs("draining", "false") {
		t.Fatalf("calls %v labels %v", sdk.calls, sdk.labels)
	}
}
