package bot

import (
	"slices"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/game/doudizhu"
	"github.com/gamehall/gamehall/protocol/pb"
)

// View is one seat's knowledge of its table, kept from the server's
// TableState and GameEvent pushes only: its hand, the bids, the landlord, the
// play to beat and every seat's card count.
type View struct {
	Table, MySeat int
	Phase         pb.GamePhase
	Hand          []doudizhu.Card
	Turn          int
	Landlord      int
	HighBid       int
	LastSeat      int
	Last          []doudizhu.Card // the play to beat; nil when the seat to act leads
	CardsLeft     [3]int
	MoveNo        uint32
	passes        int
}

// Reset loads a full TableState (after sitting down or a resume).
func (v *View) Reset(st *pb.TableState) {
	*v = View{Table: int(st.Table), MySeat: int(st.MySeat), Phase: st.Phase, Hand: cards(st.Hand),
		Turn: int(st.Turn), Landlord: int(st.Landlord), HighBid: int(st.Bid), LastSeat: int(st.LastPlaySeat),
		Last: cards(st.LastPlay), MoveNo: st.MoveNo}
	for i := 0; i < len(st.CardsLeft) && i < 3; i++ {
		v.CardsLeft[i] = int(st.CardsLeft[i])
	}
	if len(v.Last) == 0 {
		v.Last = nil
	}
	v.passes = client.PassesSince(st)
}

// Apply updates the view with one event of its table; it reports false for
// an event older than the view (already part of the last TableState).
func (v *View) Apply(ev *pb.GameEvent) bool {
	if ev.MoveNo <= v.MoveNo {
		return false
	}
	v.MoveNo = ev.MoveNo
	switch ev.Kind {
	case pb.GameEventKind_DEAL:
		v.Hand = cards(ev.Cards)
		v.Phase, v.Landlord, v.HighBid, v.Last, v.LastSeat, v.passes = pb.GamePhase_BIDDING, -1, 0, nil, -1, 0
		v.CardsLeft = [3]int{17, 17, 17}
	case pb.GameEventKind_BID:
		v.HighBid = max(v.HighBid, int(ev.Bid))
	case pb.GameEventKind_REDEAL:
		v.HighBid = 0
	case pb.GameEventKind_LANDLORD:
		v.Landlord, v.Phase = int(ev.Seat), pb.GamePhase_PLAYING
		v.Last, v.LastSeat, v.passes = nil, -1, 0
		if s := int(ev.Seat); s >= 0 && s < 3 {
			v.CardsLeft[s] += len(ev.Cards)
		}
		if int(ev.Seat) == v.MySeat {
			v.Hand = append(v.Hand, cards(ev.Cards)...)
			slices.Sort(v.Hand)
		}
	case pb.GameEventKind_PLAY:
		played := cards(ev.Cards)
		if int(ev.Seat) == v.MySeat {
			v.Hand = slices.DeleteFunc(v.Hand, func(c doudizhu.Card) bool { return slices.Contains(played, c) })
		}
		if s := int(ev.Seat); s >= 0 && s < 3 {
			v.CardsLeft[s] -= len(played)
		}
		v.Last, v.LastSeat, v.passes = played, int(ev.Seat), 0
	case pb.GameEventKind_PASS:
		v.passes++
		if v.passes >= 2 { // two passes: whoever played last leads
			v.Last, v.LastSeat, v.passes = nil, -1, 0
		}
	case pb.GameEventKind_TURN:
		v.Turn = int(ev.Seat)
	case pb.GameEventKind_GAME_OVER, pb.GameEventKind_ESCAPE:
		v.Phase, v.Turn = pb.GamePhase_WAITING, -1
	}
	return true
}

// MyTurn reports whether this seat must bid or play now.
func (v *View) MyTurn() bool {
	return (v.Phase == pb.GamePhase_BIDDING || v.Phase == pb.GamePhase_PLAYING) && v.Turn == v.MySeat
}

// Choose returns this seat's move: a bid during bidding, else the cards
// (nil = pass).
func (v *View) Choose() (bid int, play []doudizhu.Card) {
	if v.Phase == pb.GamePhase_BIDDING {
		return ChooseBid(v.Hand, v.HighBid), nil
	}
	s := Situation{Hand: v.Hand, LastSeat: v.LastSeat, MySeat: v.MySeat, Landlord: v.Landlord, CardsLeft: v.CardsLeft}
	if v.Last != nil {
		prev, err := doudizhu.Classify(slices.Clone(v.Last))
		if err == nil {
			s.Prev = prev
		}
	}
	return 0, ChoosePlay(s)
}

func cards(b []byte) []doudizhu.Card {
	out := make([]doudizhu.Card, len(b))
	for i, c := range b {
		out[i] = doudizhu.Card(c)
	}
	return out
}

func cardBytes(cs []doudizhu.Card) []byte {
	out := make([]byte, len(cs))
	for i, c := range cs {
		out[i] = byte(c)
	}
	return out
}
