package gameserver_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/protocol/pb"
)

// bot plays one seat from the pushes it receives, with client.TableView.
type bot struct {
	c    *client.Conn
	mu   sync.Mutex
	view client.TableView
	evs  []*pb.GameEvent
	over chan *pb.GameEvent
	// settled receives Settled pushes (games whose GAME_OVER was pending).
	settled chan *pb.Settled
	stop    chan struct{}
	act     bool // make moves (false: a player who is away)
	// lenient tolerates refused moves (views loaded mid-game).
	lenient bool
}

func newBot(c *client.Conn, st *pb.TableState, act, lenient bool) *bot {
	b := &bot{c: c, over: make(chan *pb.GameEvent, 4), settled: make(chan *pb.Settled, 8), stop: make(chan struct{}), act: act, lenient: lenient}
	b.view.Reset(st)
	go b.loop()
	return b
}

func (b *bot) loop() {
	for {
		select {
		case <-b.stop:
			return
		case env, ok := <-b.c.Events():
			if !ok {
				return
			}
			if s := env.GetSettled(); s != nil {
				b.settled <- s
			}
			if st := env.GetTableState(); st != nil {
				b.mu.Lock()
				b.view.Reset(st)
				b.mu.Unlock()
			}
			ge := env.GetGameEvent()
			if ge == nil {
				continue
			}
			b.mu.Lock()
			b.view.Apply(ge)
			b.evs = append(b.evs, ge)
			mine := ge.Kind == pb.GameEventKind_TURN && b.view.MyTurn() && b.act
			var bid int
			var cards []byte
			phase := b.view.Phase
			if mine {
				bid, cards = b.view.Choose()
			}
			b.mu.Unlock()
			if ge.Kind == pb.GameEventKind_GAME_OVER || ge.Kind == pb.GameEventKind_ESCAPE {
				b.over <- ge
			}
			if mine {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				var err error
				if phase == pb.GamePhase_BIDDING {
					err = b.c.Bid(ctx, bid)
				} else {
					err = b.c.Play(ctx, cards)
				}
				cancel()
				if errors.Is(err, client.ErrClosed) {
					return // the test is over
				}
				b.mu.Lock()
				lenient := b.lenient
				b.mu.Unlock()
				if err != nil && client.Code(err) != pb.ErrorCode_NOT_YOUR_TURN && !lenient {
					panic(fmt.Sprintf("seat %d: move rejected: %v", b.view.MySeat, err))
				}
			}
		}
	}
}

func (b *bot) waitOver(t *testing.T) *pb.GameEvent {
	t.Helper()
	select {
	case ge := <-b.over:
		return ge
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for the game to end")
		return nil
	}
}

// seatThree enters room 1 with three players at table 0 and returns them.
func seatThree(t *testing.T, e *env, names ...string) []*client.Conn {
	ctx := ctx20(t)
	var cs []*client.Conn
	for i, n := range names {
		c := e.dial(n)
		if _, err := c.EnterRoom(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SitDown(ctx, 0, i); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

func TestFullGameOverTheWire(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 2}, nil, nil)
	cs := seatThree(t, e, "a", "b", "c")
	ctx := ctx20(t)
	var bots []*bot
	for i, c := range cs {
		st, err := c.GetTable(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.MySeat != int32(i) || st.Phase != pb.GamePhase_WAITING {
			t.Fatalf("table state %v", st)
		}
		bots = append(bots, newBot(c, st, true, false))
	}
	for round := 0; round < 3; round++ {
		for _, c := range cs {
			if err := c.Ready(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var results []*pb.GameEvent
		for _, b := range bots {
			results = append(results, b.waitOver(t))
		}
		sum := int32(0)
		for _, s := range results[0].Scores {
			sum += s
		}
		if len(results[0].Scores) != 3 || sum != 0 || results[0].Kind != pb.GameEventKind_GAME_OVER {
			t.Fatalf("round %d: result %v", round, results[0])
		}
		for _, r := range results[1:] {
			if r.MoveNo != results[0].MoveNo || fmt.Sprint(r.Scores) != fmt.Sprint(results[0].Scores) {
				t.Fatalf("seats disagree: %v vs %v", r, results[0])
			}
		}
		// Each seat saw only its own deal.
		for i, b := range bots {
			b.mu.Lock()
			for _, ev := range b.evs {
				if ev.Kind == pb.GameEventKind_DEAL && ev.Seat != int32(i) {
					t.Fatalf("seat %d saw seat %d's cards", i, ev.Seat)
				}
			}
			b.evs = nil
			b.mu.Unlock()
		}
	}
	for _, b := range bots {
		close(b.stop)
	}
}

// A player who drops mid-game keeps the seat, is auto-played, and resumes the
// same seat with the full table state on a new connection.
func TestReconnectResumesSeat(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 2,
		AutoPlayDelay: 20 * time.Millisecond, ReconnectGrace: time.Hour, TurnTimeout: 300 * time.Millisecond}, nil, nil)
	cs := seatThree(t, e, "a", "b", "c")
	ctx := ctx20(t)
	for _, c := range cs {
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitEvent(t, cs[2], "deal", func(env *pb.Envelope) bool { return env.GetGameEvent().GetKind() == pb.GameEventKind_DEAL })
	cs[2].Close()
	waitEvent(t, cs[0], "c's disconnect", func(env *pb.Envelope) bool {
		for _, x := range env.GetRoomEvents().GetEvents() {
			if x.Kind == pb.RoomEventKind_DISCONNECT && x.Account == "c" && x.Seat == 2 {
				return true
			}
		}
		return false
	})
	if n := e.srv.Stats().Players; n != 3 {
		t.Fatalf("players during grace: %d, want 3 (seat held)", n)
	}
	tok, _ := e.ticketFor("c")
	c2, err := client.Dial(ctx, e.addr(), tok)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if !c2.Welcome.Resumed || c2.Welcome.Room != 1 {
		t.Fatalf("welcome %v", c2.Welcome)
	}
	rs := waitEvent(t, c2, "room state", func(env *pb.Envelope) bool { return env.GetRoomState() != nil }).GetRoomState()
	if rs.MyTable != 0 || rs.MySeat != 2 {
		t.Fatalf("resumed room state %v", rs)
	}
	ts := waitEvent(t, c2, "table state", func(env *pb.Envelope) bool { return env.GetTableState() != nil }).GetTableState()
	if ts.MySeat != 2 || ts.Phase == pb.GamePhase_WAITING || len(ts.Hand) < 17 || len(ts.CardsLeft) != 3 {
		t.Fatalf("resumed table state %v", ts)
	}
	// The game goes on to its end with the resumed player playing.
	bots := []*bot{}
	for i, c := range []*client.Conn{cs[0], cs[1], c2} {
		st, err := c.GetTable(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 && st.MySeat != 2 {
			t.Fatalf("seat after resume %d", st.MySeat)
		}
		b := newBot(c, st, true, true) // views loaded mid-game may race events in flight
		bots = append(bots, b)
		defer close(b.stop)
	}
	// The short turn timer plays for a seat whose move was refused, so the
	// game still ends.
	ge := bots[2].waitOver(t)
	if ge.Kind != pb.GameEventKind_GAME_OVER {
		t.Fatalf("game ended with %v", ge)
	}
}

// After the grace the seat is released and the game ends as an escape.
func TestGraceExpiryIsEscape(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 2,
		ReconnectGrace: 200 * time.Millisecond, TurnTimeout: time.Hour}, nil, nil)
	cs := seatThree(t, e, "a", "b", "c")
	ctx := ctx20(t)
	for _, c := range cs {
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitEvent(t, cs[1], "deal", func(env *pb.Envelope) bool { return env.GetGameEvent().GetKind() == pb.GameEventKind_DEAL })
	cs[1].Close()
	ge := waitEvent(t, cs[0], "escape", func(env *pb.Envelope) bool {
		return env.GetGameEvent().GetKind() == pb.GameEventKind_ESCAPE
	}).GetGameEvent()
	if ge.Seat != 1 || len(ge.Scores) != 3 || ge.Scores[0]+ge.Scores[1]+ge.Scores[2] != 0 || ge.Scores[1] >= 0 {
		t.Fatalf("escape event %v", ge)
	}
	eventually(t, "seat released", func() bool { return e.srv.Stats().Players == 2 })
	eventually(t, "presence to release b", func() bool {
		_, ok, err := e.pres.RoomOf(ctx, "b", "doudizhu")
		return err == nil && !ok
	})
	st, err := cs[0].GetTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != pb.GamePhase_WAITING || st.Seats[1].Account != "" {
		t.Fatalf("table after escape %v", st)
	}
}

// The turn timer plays for a player who does not move.
func TestTurnTimerAutoPlays(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1, TurnTimeout: 30 * time.Millisecond}, nil, nil)
	cs := seatThree(t, e, "a", "b", "c")
	ctx := ctx20(t)
	for _, c := range cs {
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ge := waitEvent(t, cs[0], "game over by timers", func(env *pb.Envelope) bool {
		return env.GetGameEvent().GetKind() == pb.GameEventKind_GAME_OVER
	}).GetGameEvent()
	if ge.Scores[0]+ge.Scores[1]+ge.Scores[2] != 0 {
		t.Fatalf("scores %v", ge.Scores)
	}
}

func TestIllegalMoves(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1, TurnTimeout: time.Hour}, nil, nil)
	cs := seatThree(t, e, "a", "b", "c")
	ctx := ctx20(t)
	for _, c := range cs {
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	turn := waitEvent(t, cs[0], "first turn", func(env *pb.Envelope) bool {
		return env.GetGameEvent().GetKind() == pb.GameEventKind_TURN
	}).GetGameEvent()
	mover, other := cs[turn.Seat], cs[(turn.Seat+1)%3]
	wantCode(t, other.Bid(ctx, 1), pb.ErrorCode_NOT_YOUR_TURN)
	wantCode(t, mover.Bid(ctx, 4), pb.ErrorCode_ILLEGAL_MOVE)
	wantCode(t, mover.Play(ctx, []byte{0}), pb.ErrorCode_ILLEGAL_MOVE) // bidding phase
	wantCode(t, mover.StandUp(ctx), pb.ErrorCode_GAME_IN_PROGRESS)
	wantCode(t, mover.Ready(ctx), pb.ErrorCode_GAME_IN_PROGRESS)
	if err := mover.Bid(ctx, 3); err != nil {
		t.Fatal(err)
	}
	ll := waitEvent(t, cs[0], "landlord", func(env *pb.Envelope) bool {
		return env.GetGameEvent().GetKind() == pb.GameEventKind_LANDLORD
	}).GetGameEvent()
	if ll.Seat != turn.Seat || len(ll.Cards) != 3 {
		t.Fatalf("landlord event %v", ll)
	}
	st, err := mover.GetTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Hand) != 20 || st.Landlord != turn.Seat {
		t.Fatalf("landlord's table %v", st)
	}
	wantCode(t, mover.Play(ctx, nil), pb.ErrorCode_ILLEGAL_MOVE) // the leader cannot pass
	notMine := byte(0)
	for c := byte(0); c < 54; c++ {
		found := false
		for _, h := range st.Hand {
			found = found || h == c
		}
		if !found {
			notMine = c
			break
		}
	}
	wantCode(t, mover.Play(ctx, []byte{notMine}), pb.ErrorCode_ILLEGAL_MOVE)
	// Leaving mid-game is an escape that the others see at once.
	if err := mover.LeaveRoom(ctx); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, other, "escape", func(env *pb.Envelope) bool {
		ge := env.GetGameEvent()
		return ge.GetKind() == pb.GameEventKind_ESCAPE && ge.Seat == turn.Seat
	})
}
