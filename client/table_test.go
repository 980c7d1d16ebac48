package client

import (
	"slices"
	"testing"

	"github.com/gamehall/gamehall/protocol/pb"
)

func TestTableViewFollowsAGame(t *testing.T) {
	var v TableView
	v.Reset(&pb.TableState{Table: 3, MySeat: 1, Phase: pb.GamePhase_WAITING, Turn: -1, Landlord: -1, LastPlaySeat: -1, MoveNo: 10})
	steps := []struct {
		ev       *pb.GameEvent
		check    func() bool
		describe string
	}{
		{&pb.GameEvent{MoveNo: 9, Kind: pb.GameEventKind_DEAL, Seat: 1, Cards: []byte{1}}, func() bool { return v.Hand == nil }, "an event older than the state is ignored"},
		{&pb.GameEvent{MoveNo: 11, Kind: pb.GameEventKind_DEAL, Seat: 1, Cards: []byte{0, 4, 8, 12, 16}}, func() bool { return v.Phase == pb.GamePhase_BIDDING && len(v.Hand) == 5 }, "deal"},
		{&pb.GameEvent{MoveNo: 12, Kind: pb.GameEventKind_TURN, Seat: 1}, func() bool { return v.MyTurn() }, "my turn"},
		{&pb.GameEvent{MoveNo: 13, Kind: pb.GameEventKind_BID, Seat: 1, Bid: 2}, func() bool { return v.HighBid == 2 }, "bid"},
		{&pb.GameEvent{MoveNo: 14, Kind: pb.GameEventKind_LANDLORD, Seat: 1, Bid: 2, Cards: []byte{2, 3, 20}}, func() bool {
			return v.Landlord == 1 && v.Phase == pb.GamePhase_PLAYING && slices.Equal(v.Hand, []byte{0, 2, 3, 4, 8, 12, 16, 20})
		}, "landlord takes the kitty"},
		{&pb.GameEvent{MoveNo: 15, Kind: pb.GameEventKind_PLAY, Seat: 1, Cards: []byte{0}}, func() bool { return len(v.Hand) == 7 && v.LastSeat == 1 }, "my play leaves my hand"},
		{&pb.GameEvent{MoveNo: 16, Kind: pb.GameEventKind_PASS, Seat: 2}, func() bool { return v.Last != nil }, "one pass keeps the play"},
		{&pb.GameEvent{MoveNo: 17, Kind: pb.GameEventKind_PASS, Seat: 0}, func() bool { return v.Last == nil }, "two passes clear it"},
		{&pb.GameEvent{MoveNo: 18, Kind: pb.GameEventKind_GAME_OVER, Seat: 1, Scores: []int32{-2, 4, -2}}, func() bool { return v.Over && !v.MyTurn() && v.Scores[1] == 4 }, "game over"},
	}
	for _, s := range steps {
		v.Apply(s.ev)
		if !s.check() {
			t.Fatalf("%s: view %+v", s.describe, v)
		}
	}
}

func TestTableViewChoosesLegalMoves(t *testing.T) {
	v := TableView{MySeat: 0, Phase: pb.GamePhase_PLAYING, Turn: 0, Hand: []byte{0, 1, 4, 5}}
	if _, cards := v.Choose(); len(cards) == 0 {
		t.Fatal("the leader must play")
	}
	v.Last = []byte{52, 53} // the rocket: nothing beats it
	if _, cards := v.Choose(); cards != nil {
		t.Fatalf("played %v on a rocket", cards)
	}
	v = TableView{Phase: pb.GamePhase_BIDDING, HighBid: 3, Hand: []byte{52, 53, 48, 49, 50, 51}}
	if bid, _ := v.Choose(); bid != 0 {
		t.Fatalf("bid %d over a 3", bid)
	}
}

// A view loaded mid-trick (a resume) counts the passes already made: the
// next pass is the trick's second and clears the table.
func TestTableViewResumedMidTrick(t *testing.T) {
	var v TableView
	// Seat 0 played, seat 1 passed; seat 2 (me) is to act.
	v.Reset(&pb.TableState{Table: 1, MySeat: 2, Phase: pb.GamePhase_PLAYING, Turn: 2, Landlord: 0,
		LastPlaySeat: 0, LastPlay: []byte{40}, Hand: []byte{1, 2}, MoveNo: 30})
	if v.Last == nil {
		t.Fatal("the play to beat was lost")
	}
	v.Apply(&pb.GameEvent{MoveNo: 31, Kind: pb.GameEventKind_PASS, Seat: 2})
	if v.Last != nil {
		t.Fatalf("two passes did not clear the table: %+v", v)
	}
}
