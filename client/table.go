package client

import (
	"slices"

	"github.com/gamehall/gamehall/game/doudizhu"
	"github.com/gamehall/gamehall/protocol/pb"
)

// TableView follows one seat's view of a Dou Dizhu table from TableState and
// GameEvent pushes, and picks legal moves for bots.
type TableView struct {
	Table, MySeat int
	Phase         pb.GamePhase
	Hand          []byte
	Turn          int
	Landlord      int
	HighBid       int
	LastSeat      int
	Last          []byte // the play to beat; nil when the seat to act leads
	MoveNo        uint32
	Over          bool
	Escaped       bool
	Scores        []int32
	passes        int
}

// Reset loads a full TableState (on sit down or resume).
func (v *TableView) Reset(st *pb.TableState) {
	*v = TableView{Table: int(st.Table), MySeat: int(st.MySeat), Phase: st.Phase, Hand: slices.Clone(st.Hand),
		Turn: int(st.Turn), Landlord: int(st.Landlord), HighBid: int(st.Bid), LastSeat: int(st.LastPlaySeat),
		Last: slices.Clone(st.LastPlay), MoveNo: st.MoveNo}
	v.passes = PassesSince(st)
}

// PassesSince is how many seats passed since the play to beat in st: the
// seats between its player and the seat to act. A view loaded mid-trick
// needs it, or the trick's second pass would not clear the table.
func PassesSince(st *pb.TableState) int {
	if len(st.LastPlay) == 0 || st.LastPlaySeat < 0 || st.Turn < 0 {
		return 0
	}
	return int((st.Turn - st.LastPlaySeat - 1 + 3) % 3)
}

// Apply updates the view with one event of this table.
// Events no newer than the last TableState are ignored (they were queued
// before it and are already part of it).
func (v *TableView) Apply(ev *pb.GameEvent) {
	if ev.MoveNo <= v.MoveNo {
		return
	}
	v.MoveNo = ev.MoveNo
	switch ev.Kind {
	case pb.GameEventKind_DEAL:
		v.Hand = slices.Clone(ev.Cards)
		v.Phase, v.Landlord, v.HighBid, v.Last, v.LastSeat, v.passes = pb.GamePhase_BIDDING, -1, 0, nil, -1, 0
		v.Over, v.Escaped, v.Scores = false, false, nil
	case pb.GameEventKind_BID:
		v.HighBid = max(v.HighBid, int(ev.Bid))
	case pb.GameEventKind_LANDLORD:
		v.Landlord, v.Phase = int(ev.Seat), pb.GamePhase_PLAYING
		if int(ev.Seat) == v.MySeat {
			v.Hand = append(v.Hand, ev.Cards...)
			slices.Sort(v.Hand)
		}
	case pb.GameEventKind_PLAY:
		if int(ev.Seat) == v.MySeat {
			v.Hand = slices.DeleteFunc(v.Hand, func(c byte) bool { return slices.Contains(ev.Cards, c) })
		}
		v.Last, v.LastSeat, v.passes = slices.Clone(ev.Cards), int(ev.Seat), 0
	case pb.GameEventKind_PASS:
		v.passes++
		if v.passes >= 2 { // two passes clear the table: the last player leads
			v.Last, v.passes = nil, 0
		}
	case pb.GameEventKind_TURN:
		v.Turn = int(ev.Seat)
	case pb.GameEventKind_GAME_OVER, pb.GameEventKind_ESCAPE:
		v.Over, v.Escaped, v.Scores, v.Phase, v.Turn = true, ev.Kind == pb.GameEventKind_ESCAPE, ev.Scores, pb.GamePhase_WAITING, -1
	}
}

// MyTurn reports whether this seat must act.
func (v *TableView) MyTurn() bool {
	return !v.Over && v.Phase != pb.GamePhase_WAITING && v.Turn == v.MySeat
}

// Choose picks a move for this seat: during bidding a bid (0 = pass), during
// play the cards (nil = pass). It plays the first legal combination, which
// keeps bots simple and every move legal.
func (v *TableView) Choose() (bid int, cards []byte) {
	hand := make([]doudizhu.Card, len(v.Hand))
	for i, c := range v.Hand {
		hand[i] = doudizhu.Card(c)
	}
	if v.Phase == pb.GamePhase_BIDDING {
		b := doudizhu.SuggestBid(hand)
		if b <= v.HighBid {
			b = 0
		}
		return b, nil
	}
	var prev doudizhu.Combo
	if v.Last != nil {
		last := make([]doudizhu.Card, len(v.Last))
		for i, c := range v.Last {
			last[i] = doudizhu.Card(c)
		}
		var err error
		if prev, err = doudizhu.Classify(last); err != nil {
			return 0, nil
		}
	}
	moves := doudizhu.LegalMoves(hand, prev)
	if len(moves) == 0 {
		return 0, nil
	}
	out := make([]byte, len(moves[0].Cards))
	for i, c := range moves[0].Cards {
		out[i] = byte(c)
	}
	return 0, out
}
