package gameserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/game/doudizhu"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/protocol/pb"
)

// ambiguousDeal finds a deal where seat 0, landlord after bidding 3, holds
// a play with more than one reading, and returns the seed and that play's
// readings (strongest first).
func ambiguousDeal(t *testing.T) (doudizhu.Seed, []doudizhu.Combo) {
	for i := 1; i < 100000; i++ {
		var seed doudizhu.Seed
		seed[0], seed[1], seed[2] = byte(i), byte(i>>8), byte(i>>16)
		g := doudizhu.NewFairGame(seed, 0)
		if _, err := g.Bid(0, 3); err != nil {
			t.Fatal(err)
		}
		for _, m := range doudizhu.LegalMoves(g.Hand(0), doudizhu.Combo{}) {
			if all := doudizhu.ClassifyAll(m.Cards); len(all) > 1 {
				return seed, all
			}
		}
	}
	t.Fatal("no deal with an ambiguous play")
	return doudizhu.Seed{}, nil
}

// The leader chooses how a play with two readings counts: the shard plays
// that reading, announces it in the PLAY event and the table state, and
// refuses a reading the cards do not have.
func TestPlayWithChosenReading(t *testing.T) {
	seed, readings := ambiguousDeal(t)
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 2,
		DealSeed: func() doudizhu.Seed { return seed }}, nil, nil)
	cs := seatThree(t, e, "ann", "bob", "cyd")
	ctx := ctx20(t)
	for _, c := range cs {
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, cs[0], func(ge *pb.GameEvent) bool { return ge.Kind == pb.GameEventKind_TURN && ge.Seat == 0 })
	if err := cs[0].Bid(ctx, 3); err != nil {
		t.Fatal(err)
	}
	waitFor(t, cs[0], func(ge *pb.GameEvent) bool { return ge.Kind == pb.GameEventKind_LANDLORD })

	weakest := readings[len(readings)-1] // not what the server would pick by itself
	cards := make([]byte, len(weakest.Cards))
	for i, c := range weakest.Cards {
		cards[i] = byte(c)
	}
	play := func(r doudizhu.Combo) error {
		_, err := cs[0].Request(ctx, &pb.Envelope{Msg: &pb.Envelope_Play{Play: &pb.Play{Cards: cards,
			Reading: &pb.Combo{Kind: pb.ComboKind(r.Kind), Rank: int32(r.Rank), Length: int32(r.Length)}}}})
		return err
	}
	bogus := weakest
	bogus.Kind, bogus.Length = doudizhu.Bomb, 1
	if err := play(bogus); client.Code(err) != pb.ErrorCode_ILLEGAL_MOVE {
		t.Fatalf("a reading the cards lack: %v, want ILLEGAL_MOVE", err)
	}
	if err := play(weakest); err != nil {
		t.Fatalf("playing %v: %v", weakest, err)
	}
	want := doudizhu.ReadingOf(weakest)
	ge := waitFor(t, cs[1], func(ge *pb.GameEvent) bool { return ge.Kind == pb.GameEventKind_PLAY })
	if got := readingOf(ge.Combo); got != want {
		t.Fatalf("PLAY event announces %v, want %v", got, want)
	}
	st, err := cs[2].GetTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := readingOf(st.LastCombo); got != want {
		t.Fatalf("TableState.last_combo = %v, want %v", got, want)
	}
}

func readingOf(c *pb.Combo) doudizhu.Reading {
	if c == nil {
		return doudizhu.Reading{}
	}
	return doudizhu.Reading{Kind: doudizhu.Kind(c.Kind), Rank: doudizhu.Rank(c.Rank), Length: int(c.Length)}
}

// waitFor reads c's pushes until a game event matches.
func waitFor(t *testing.T, c *client.Conn, match func(*pb.GameEvent) bool) *pb.GameEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		select {
		case env, ok := <-c.Events():
			if !ok {
				t.Fatal("connection closed")
			}
			if ge := env.GetGameEvent(); ge != nil && match(ge) {
				return ge
			}
		case <-ctx.Done():
			t.Fatal("timed out waiting for a game event")
		}
	}
}
