package gameserver_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/protocol/pb"
)

// startWithSDK runs a shard on the fake sidecar. ReportInterval is an hour:
// every counter update the tests see was sent at once, not on a tick.
func startWithSDK(t *testing.T, sdk *fakeSDK) *env {
	t.Helper()
	pres := presence.NewMemory()
	t.Cleanup(func() { pres.Close() })
	keys := newKeys(t)
	srv, err := gameserver.New(gameserver.Config{Rooms: 2, RoomCapacity: 10, TablesPerRoom: 1, ReportInterval: time.Hour,
		Addr: "127.0.0.1:0", InternalAddr: "127.0.0.1:0", MsgRate: 10000, MsgBurst: 10000},
		gameserver.Deps{Verifier: keys, Presence: pres, SDK: sdk, Logger: testLogger()})
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
	eventually(t, "ready", func() bool { return sdk.has("ready") })
	return e
}

func newFakeSDK() *fakeSDK {
	return &fakeSDK{counters: map[string]int64{}, labels: map[string]string{}, annotations: map[string]string{}}
}

// drainFn is the shard's callback for the operator's drain request,
// without a deadline.
func (f *fakeSDK) drainFn(t *testing.T) func(bool) {
	fn := f.requestFn(t)
	return func(d bool) { fn(gameserver.DrainRequest{Draining: d}) }
}

// requestFn is the shard's callback for the operator's drain request.
func (f *fakeSDK) requestFn(t *testing.T) func(gameserver.DrainRequest) {
	var fn func(gameserver.DrainRequest)
	eventually(t, "the shard to watch its drain request", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		fn = f.drainingFn
		return fn != nil
	})
	return fn
}

func (f *fakeSDK) callsSoFar() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// A rise from 0 players reaches the GameServer at once, not at the next
// report tick: until it does, the operator could take the shard for empty.
func TestPlayerRiseReportedAtOnce(t *testing.T) {
	sdk := newFakeSDK()
	e := startWithSDK(t, sdk)
	c := e.dial("a")
	if _, err := c.EnterRoom(ctx20(t), 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "players=1 reported with an hour between report ticks", func() bool { return sdk.has("counter players=1/20") })
}

// The shard confirms a drain only once it refuses entries and has reported
// its exact player count, in that order: a confirmation with a stale count
// would let an occupied shard look drained and empty.
func TestDrainConfirmedAfterExactCount(t *testing.T) {
	sdk := newFakeSDK()
	e := startWithSDK(t, sdk)
	c := e.dial("a")
	if _, err := c.EnterRoom(ctx20(t), 1); err != nil {
		t.Fatal(err)
	}
	sdk.drainFn(t)(true)
	eventually(t, "the drain confirmed", func() bool { return sdk.labelIs("draining", "true") })
	last := ""
	for _, call := range sdk.callsSoFar() {
		if strings.HasPrefix(call, "counter players=") {
			last = call
		}
		if call == "label draining=true" {
			break
		}
	}
	if last != "counter players=1/20" {
		t.Fatalf("last players count before the confirmation: %q, want players=1 (calls %v)", last, sdk.callsSoFar())
	}
	_, err := e.dial("b").EnterRoom(ctx20(t), 2)
	wantCode(t, err, pb.ErrorCode_DRAINING)
}

// Un-drain is a state change on the shard: it takes players again, says so
// on its GameServer and in its occupancy stream, and does not shut down
// once empty.
func TestUndrainReopensShard(t *testing.T) {
	sdk := newFakeSDK()
	e := startWithSDK(t, sdk)
	a := e.dial("a")
	if _, err := a.EnterRoom(ctx20(t), 1); err != nil {
		t.Fatal(err)
	}
	drain := sdk.drainFn(t)
	drain(true)
	eventually(t, "the drain confirmed", func() bool { return sdk.labelIs("draining", "true") })
	b := e.dial("b")
	_, err := b.EnterRoom(ctx20(t), 1)
	wantCode(t, err, pb.ErrorCode_DRAINING)

	drain(false)
	eventually(t, "the confirmation withdrawn", func() bool { return sdk.labelIs("draining", "false") })
	if e.srv.Draining() {
		t.Fatal("un-drained shard still draining")
	}
	if _, err := b.EnterRoom(ctx20(t), 1); err != nil {
		t.Fatalf("entry after the un-drain: %v", err)
	}
	// Everyone leaves: an un-drained shard keeps running.
	for _, c := range []interface{ LeaveRoom(context.Context) error }{a, b} {
		if err := c.LeaveRoom(ctx20(t)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "players=0 reported", func() bool { return sdk.has("counter players=0/20") })
	select {
	case err := <-e.done:
		t.Fatalf("un-drained shard stopped once empty: %v", err)
	case <-time.After(time.Second): // the drained-and-empty check runs every 250 ms
	}
	if sdk.has("shutdown") {
		t.Fatal("un-drained shard asked Agones to shut it down")
	}
}

// A shard with no drain timeout configured waits for its last player: no
// default cuts players off (the operator passes the Region's timeout).
func TestNoDefaultDrainTimeout(t *testing.T) {
	cfg := gameserver.Config{}
	srv, err := gameserver.New(cfg, gameserver.Deps{Verifier: newKeys(t), Presence: presence.NewMemory(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if d := srv.Config().DrainTimeout; d != 0 {
		t.Fatalf("default drain timeout %s: a draining shard would cut its players after it", d)
	}
}

// The operator's deadline reaches the shard: at it, the players left are
// told why (KICK_DRAIN_TIMEOUT: pick a room from the hall), and a client
// can tell the shard is gone from a lost connection it should resume.
func TestDrainDeadlineClosesWithReason(t *testing.T) {
	sdk := newFakeSDK()
	e := startWithSDK(t, sdk)
	c := e.dial("a")
	if _, err := c.EnterRoom(ctx20(t), 1); err != nil {
		t.Fatal(err)
	}
	sdk.requestFn(t)(gameserver.DrainRequest{Draining: true, Deadline: time.Now().Add(300 * time.Millisecond)})
	select {
	case <-e.done:
		e.stopOnce.Do(func() {})
	case <-time.After(20 * time.Second):
		t.Fatal("the shard did not close at its drain deadline")
	}
	<-c.Done()
	var k *client.KickedError
	if err := c.Err(); !errors.As(err, &k) || k.Code != pb.KickCode_KICK_DRAIN_TIMEOUT || !client.ShardGone(err) || client.Resumable(err) {
		t.Fatalf("connection ended with %v", err)
	}
	if !sdk.has("shutdown") {
		t.Fatal("no Shutdown after the drain deadline")
	}
	_, err := client.Dial(ctx20(t), e.addr(), "any")
	if !client.ShardGone(err) {
		t.Fatalf("dialling the stopped shard: %v, want it told apart as gone", err)
	}
}
