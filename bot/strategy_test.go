package bot

import (
	"slices"
	"testing"

	"github.com/gamehall/gamehall/game/doudizhu"
	"github.com/gamehall/gamehall/protocol/pb"
)

// situation is what seat knows in g, built the way a bot builds it.
func situation(g *doudizhu.Game, seat int) Situation {
	s := Situation{Hand: g.Hand(seat), MySeat: seat, Landlord: g.Landlord(), LastSeat: -1}
	for i := 0; i < 3; i++ {
		s.CardsLeft[i] = g.HandSize(i)
	}
	if last, c, ok := g.LastPlay(); ok {
		s.Prev, s.LastSeat = c, last
	}
	return s
}

type chooser func(g *doudizhu.Game, seat int) []doudizhu.Card

func ours(g *doudizhu.Game, seat int) []doudizhu.Card { return ChoosePlay(situation(g, seat)) }

// firstLegal plays the first legal move, the least a bot can do.
func firstLegal(g *doudizhu.Game, seat int) []doudizhu.Card {
	_, prev, _ := g.LastPlay()
	m := doudizhu.LegalMoves(g.Hand(seat), prev)
	if len(m) == 0 {
		return nil
	}
	return m[0].Cards
}

// playGame plays one game with each seat's chooser; every move must be legal.
func playGame(t *testing.T, seed int64, seats [3]chooser) doudizhu.Result {
	t.Helper()
	g := doudizhu.NewGame(seed, int(seed%3))
	for moves := 0; ; moves++ {
		if moves > 500 {
			t.Fatalf("seed %d: game did not end", seed)
		}
		if r, ok := g.Result(); ok {
			return r
		}
		seat := g.Turn()
		if g.Phase() == doudizhu.PhaseBidding {
			if g.Redeals() > 20 {
				t.Fatalf("seed %d: endless redeals", seed)
			}
			if _, err := g.Bid(seat, ChooseBid(g.Hand(seat), g.CurrentBid())); err != nil {
				t.Fatalf("seed %d: bid refused: %v", seed, err)
			}
			continue
		}
		play := seats[seat](g, seat)
		if _, err := g.Play(seat, play); err != nil {
			_, prev, _ := g.LastPlay()
			t.Fatalf("seed %d seat %d: %v refused on %v with hand %v: %v", seed, seat,
				doudizhu.FormatCards(play), prev, doudizhu.FormatCards(g.Hand(seat)), err)
		}
	}
}

func TestStrategyPlaysLegalGames(t *testing.T) {
	for seed := int64(1); seed <= 400; seed++ {
		r := playGame(t, seed, [3]chooser{ours, ours, ours})
		if r.Scores[0]+r.Scores[1]+r.Scores[2] != 0 {
			t.Fatalf("seed %d: scores %v do not sum to zero", seed, r.Scores)
		}
	}
}

// The strategy is "sensible" if it clearly beats first-legal-move play from
// the same cards: over the same deals, the side it plays wins more often.
func TestStrategyBeatsFirstLegalMove(t *testing.T) {
	const games = 300
	wins := 0
	for seed := int64(1); seed <= games; seed++ {
		// Our strategy on seat 0 only, the others play the first legal move.
		r := playGame(t, seed, [3]chooser{ours, firstLegal, firstLegal})
		ourSideWon := (r.Landlord == 0) == r.LandlordWon
		if ourSideWon {
			wins++
		}
	}
	// First-legal-move on seat 0 as the baseline over the same deals.
	base := 0
	for seed := int64(1); seed <= games; seed++ {
		r := playGame(t, seed, [3]chooser{firstLegal, firstLegal, firstLegal})
		if (r.Landlord == 0) == r.LandlordWon {
			base++
		}
	}
	t.Logf("seat 0 wins: strategy %d/%d, first legal move %d/%d", wins, games, base, games)
	if wins <= base+games/20 {
		t.Fatalf("strategy won %d of %d games on seat 0, first-legal-move %d: not clearly better", wins, games, base)
	}
}

func TestChoosePlay(t *testing.T) {
	parse := func(s string) []doudizhu.Card {
		cs, err := doudizhu.ParseCards(s)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	combo := func(s string) doudizhu.Combo {
		c, err := doudizhu.Classify(parse(s))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cases := []struct {
		name string
		s    Situation
		want string // FormatCards of the play; "" = pass
	}{
		{"passes when nothing beats", Situation{Hand: parse("3 3"), Prev: combo("2 2"), LastSeat: 1, MySeat: 0, Landlord: 1, CardsLeft: [3]int{2, 5, 5}}, ""},
		{"goes out when it can", Situation{Hand: parse("4 4"), Prev: combo("3 3"), LastSeat: 1, MySeat: 0, Landlord: 1, CardsLeft: [3]int{2, 5, 5}}, "44"},
		{"lets the partner's play stand", Situation{Hand: parse("4 5 6 9 K"), Prev: combo("3"), LastSeat: 2, MySeat: 1, Landlord: 0, CardsLeft: [3]int{10, 5, 9}}, ""},
		{"beats the landlord cheaply", Situation{Hand: parse("4 5 6 9 K"), Prev: combo("3"), LastSeat: 0, MySeat: 1, Landlord: 0, CardsLeft: [3]int{10, 5, 9}}, "4"},
		{"keeps the bomb whole", Situation{Hand: parse("5 5 5 5 9 9 J"), Prev: combo("4 4"), LastSeat: 0, MySeat: 1, Landlord: 0, CardsLeft: [3]int{10, 7, 9}}, "99"},
		{"bombs when the landlord is about to go out", Situation{Hand: parse("5 5 5 5 6 7 J"), Prev: combo("A A"), LastSeat: 0, MySeat: 1, Landlord: 0, CardsLeft: [3]int{2, 7, 9}}, "5555"},
		{"keeps the bomb when nothing presses", Situation{Hand: parse("5 5 5 5 6 7 J Q K 9"), Prev: combo("A A"), LastSeat: 0, MySeat: 1, Landlord: 0, CardsLeft: [3]int{12, 10, 9}}, ""},
		{"leads a straight over singles", Situation{Hand: parse("3 4 5 6 7 J"), LastSeat: -1, MySeat: 0, Landlord: 0, CardsLeft: [3]int{6, 17, 17}}, "34567"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ChoosePlay(tc.s)
			sorted := slices.Clone(got)
			doudizhu.SortCards(sorted)
			if g := doudizhu.FormatCards(sorted); g != formatWant(t, tc.want) {
				t.Fatalf("played %q, want %q", g, formatWant(t, tc.want))
			}
		})
	}
}

func formatWant(t *testing.T, s string) string {
	if s == "" {
		return doudizhu.FormatCards(nil)
	}
	var spaced []byte
	for i := 0; i < len(s); i++ {
		if i > 0 {
			spaced = append(spaced, ' ')
		}
		spaced = append(spaced, s[i])
	}
	cs, err := doudizhu.ParseCards(string(spaced))
	if err != nil {
		t.Fatal(err)
	}
	doudizhu.SortCards(cs)
	return doudizhu.FormatCards(cs)
}

func TestViewFollowsEvents(t *testing.T) {
	var v View
	v.Reset(&pb.TableState{Table: 4, MySeat: 1, Phase: pb.GamePhase_WAITING, Turn: -1, Landlord: -1, LastPlaySeat: -1, MoveNo: 10})
	hand := []byte{0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 1, 5, 9, 13}
	evs := []*pb.GameEvent{
		{MoveNo: 9, Kind: pb.GameEventKind_PLAY, Seat: 0, Cards: []byte{3}}, // older than the state: ignored
		{MoveNo: 11, Kind: pb.GameEventKind_DEAL, Seat: 1, Cards: hand},
		{MoveNo: 12, Kind: pb.GameEventKind_TURN, Seat: 1},
	}
	for _, e := range evs {
		v.Apply(e)
	}
	if !v.MyTurn() || v.Phase != pb.GamePhase_BIDDING || len(v.Hand) != 17 {
		t.Fatalf("after deal: %+v", v)
	}
	v.Apply(&pb.GameEvent{MoveNo: 13, Kind: pb.GameEventKind_BID, Seat: 1, Bid: 3})
	v.Apply(&pb.GameEvent{MoveNo: 14, Kind: pb.GameEventKind_LANDLORD, Seat: 1, Bid: 3, Cards: []byte{50, 52, 53}})
	if v.Landlord != 1 || len(v.Hand) != 20 || v.CardsLeft != [3]int{17, 20, 17} {
		t.Fatalf("after landlord: landlord %d hand %d left %v", v.Landlord, len(v.Hand), v.CardsLeft)
	}
	v.Apply(&pb.GameEvent{MoveNo: 15, Kind: pb.GameEventKind_PLAY, Seat: 1, Cards: []byte{0}})
	v.Apply(&pb.GameEvent{MoveNo: 16, Kind: pb.GameEventKind_PASS, Seat: 2})
	if len(v.Last) != 1 || v.LastSeat != 1 || len(v.Hand) != 19 || v.CardsLeft[1] != 19 {
		t.Fatalf("after play: %+v", v)
	}
	v.Apply(&pb.GameEvent{MoveNo: 17, Kind: pb.GameEventKind_PASS, Seat: 0})
	if v.Last != nil {
		t.Fatalf("two passes should clear the trick: last %v", v.Last)
	}
	v.Apply(&pb.GameEvent{MoveNo: 18, Kind: pb.GameEventKind_GAME_OVER, Scores: []int32{-3, 6, -3}})
	if v.MyTurn() || v.Phase != pb.GamePhase_WAITING {
		t.Fatalf("after game over: %+v", v)
	}
}
