package gameserver_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/protocol/pb"
)

// gatedPresence holds every EnterRoom at a gate, so a test can act while a
// room entry waits on presence (the widest race window of an entry).
type gatedPresence struct {
	presence.Store
	entering chan struct{} // one send per EnterRoom reaching the gate
	gate     chan struct{} // closed: EnterRoom goes on
	leaves   atomic.Int64
}

func (g *gatedPresence) EnterRoom(ctx context.Context, account, session, game string, where presence.RoomKey, ttl time.Duration) error {
	g.entering <- struct{}{}
	<-g.gate
	return g.Store.EnterRoom(ctx, account, session, game, where, ttl)
}

func (g *gatedPresence) LeaveRoom(ctx context.Context, account, game string, where presence.RoomKey) error {
	g.leaves.Add(1)
	return g.Store.LeaveRoom(ctx, account, game, where)
}

// A second Hello with the same ticket while the first connection's room
// entry waits on presence, then that second connection gone: the entry
// must not seat a member nobody holds (a ghost: a leaked seat that also
// keeps the shard from ever draining to empty), nor leave a presence entry.
func TestNoGhostMemberAfterRacingHello(t *testing.T) {
	mem := presence.NewMemory()
	t.Cleanup(func() { mem.Close() })
	g := &gatedPresence{Store: mem, entering: make(chan struct{}, 1), gate: make(chan struct{})}
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1}, g, nil)
	ctx := ctx20(t)
	tok, _ := e.ticketFor("a")
	c1, err := client.Dial(ctx, e.addr(), tok)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	entered := make(chan error, 1)
	go func() { _, err := c1.EnterRoom(ctx, 1); entered <- err }()
	<-g.entering // c1's entry waits on presence

	c2, err := client.Dial(ctx, e.addr(), tok) // same ticket: replaces c1
	if err != nil {
		t.Fatal(err)
	}
	<-c1.Done()
	c2.Close()
	eventually(t, "the shard to let go of a", func() bool { return e.srv.Stats().Sessions == 0 })

	close(g.gate) // c1's entry goes on
	<-entered
	eventually(t, "the entry to be seated or undone", func() bool { return e.srv.Stats().Players > 0 || g.leaves.Load() > 0 })
	if n := e.srv.Stats().Players; n != 0 {
		t.Fatalf("%d players in the room after every connection left: a ghost member", n)
	}
	if where, ok, _ := mem.RoomOf(ctx, "a", "doudizhu"); ok {
		t.Fatalf("presence still places a in %v", where)
	}
}

// seatWithTickets seats accounts at table 0 of room 1 and returns their
// connections and tickets.
func seatWithTickets(t *testing.T, e *env, names ...string) ([]*client.Conn, []string) {
	ctx := ctx20(t)
	var cs []*client.Conn
	var toks []string
	for i, n := range names {
		tok, _ := e.ticketFor(n)
		c, err := client.Dial(ctx, e.addr(), tok)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.EnterRoom(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SitDown(ctx, 0, i); err != nil {
			t.Fatal(err)
		}
		cs, toks = append(cs, c), append(toks, tok)
	}
	return cs, toks
}

// A reconnect does not give the turn time back: the player whose turn it
// is drops and comes back, again and again, and the turn still ends when
// it would have (before, every reconnect restarted the full turn timer and
// a player reconnecting every ~19 s held the table forever).
func TestReconnectKeepsTurnDeadline(t *testing.T) {
	// Neither timer fires during the test: only the deadlines are compared.
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1,
		TurnTimeout: time.Hour, AutoPlayDelay: time.Hour, ReconnectGrace: time.Hour}, nil, nil)
	ctx := ctx20(t)
	cs, toks := seatWithTickets(t, e, "a", "b", "c")
	turns := make(chan *pb.GameEvent, 1)
	go func() {
		waitEvent(t, cs[0], "first turn", func(env *pb.Envelope) bool {
			if ge := env.GetGameEvent(); ge.GetKind() == pb.GameEventKind_TURN {
				turns <- ge
				return true
			}
			return false
		})
	}()
	for _, c := range cs {
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	first := <-turns
	deadline, seat := first.DeadlineUnixMs, first.Seat
	watcher := cs[(seat+1)%3]
	for round := range 3 {
		cs[seat].Close()
		waitEvent(t, watcher, "the disconnect", func(env *pb.Envelope) bool {
			for _, x := range env.GetRoomEvents().GetEvents() {
				if x.Kind == pb.RoomEventKind_DISCONNECT && x.Seat == seat {
					return true
				}
			}
			return false
		})
		c, err := client.Dial(ctx, e.addr(), toks[seat]) // the same session comes back
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if !c.Welcome.Resumed {
			t.Fatalf("round %d: not resumed: %v", round, c.Welcome)
		}
		ts := waitEvent(t, c, "table state", func(env *pb.Envelope) bool { return env.GetTableState() != nil }).GetTableState()
		if ts.Turn != seat {
			t.Fatalf("round %d: turn moved to seat %d", round, ts.Turn)
		}
		if ts.DeadlineUnixMs > deadline {
			t.Fatalf("round %d: the reconnect moved the turn's end %d ms later", round, ts.DeadlineUnixMs-deadline)
		}
		cs[seat] = c
	}
}
