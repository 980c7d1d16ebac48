package doudizhu

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

type bidStep struct{ seat, bid int }

func TestBidding(t *testing.T) {
	tests := []struct {
		name     string
		first    int
		steps    []bidStep
		landlord int // -1: still bidding
		bid      int
		redeals  int
		turn     int
	}{
		{name: "highest of three", first: 0, steps: []bidStep{{0, 1}, {1, 2}, {2, 0}}, landlord: 1, bid: 2, turn: 1},
		{name: "3 ends bidding", first: 1, steps: []bidStep{{1, 3}}, landlord: 1, bid: 3, turn: 1},
		{name: "3 after a 1", first: 2, steps: []bidStep{{2, 1}, {0, 3}}, landlord: 0, bid: 3, turn: 0},
		{name: "last bidder only", first: 2, steps: []bidStep{{2, 0}, {0, 0}, {1, 1}}, landlord: 1, bid: 1, turn: 1},
		{name: "first bidder keeps it", first: 0, steps: []bidStep{{0, 2}, {1, 0}, {2, 0}}, landlord: 0, bid: 2, turn: 0},
		{name: "all pass redeals", first: 0, steps: []bidStep{{0, 0}, {1, 0}, {2, 0}}, landlord: -1, redeals: 1, turn: 1},
		{name: "two redeals", first: 2, steps: []bidStep{{2, 0}, {0, 0}, {1, 0}, {0, 0}, {1, 0}, {2, 0}}, landlord: -1, redeals: 2, turn: 1},
		{name: "bid after redeal", first: 2, steps: []bidStep{{2, 0}, {0, 0}, {1, 0}, {0, 1}, {1, 0}, {2, 0}}, landlord: 0, bid: 1, redeals: 1, turn: 0},
		{name: "in progress", first: 1, steps: []bidStep{{1, 1}}, landlord: -1, bid: 1, turn: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGame(42, tt.first)
			var evs []Event
			for _, s := range tt.steps {
				e, err := g.Bid(s.seat, s.bid)
				if err != nil {
					t.Fatalf("Bid(%d, %d): %v", s.seat, s.bid, err)
				}
				evs = append(evs, e...)
			}
			if g.Landlord() != tt.landlord || g.Redeals() != tt.redeals || g.Turn() != tt.turn {
				t.Fatalf("landlord %d redeals %d turn %d; want %d %d %d", g.Landlord(), g.Redeals(), g.Turn(), tt.landlord, tt.redeals, tt.turn)
			}
			if tt.landlord < 0 {
				if g.Phase() != PhaseBidding || g.Kitty() != nil || g.CurrentBid() != tt.bid {
					t.Fatalf("phase %v kitty %v bid %d", g.Phase(), g.Kitty(), g.CurrentBid())
				}
				return
			}
			if g.Phase() != PhasePlaying || g.CurrentBid() != tt.bid || g.Multiplier() != tt.bid {
				t.Fatalf("phase %v bid %d multiplier %d", g.Phase(), g.CurrentBid(), g.Multiplier())
			}
			last := evs[len(evs)-1]
			if last.Kind != LandlordChosen || last.Seat != tt.landlord || last.Bid != tt.bid || !slices.Equal(last.Cards, g.Kitty()) || last.Next != tt.landlord {
				t.Fatalf("last event %+v", last)
			}
			hand := g.Hand(tt.landlord)
			if len(hand) != 20 || g.HandSize(tt.landlord) != 20 {
				t.Fatalf("landlord holds %d cards", len(hand))
			}
			for _, k := range g.Kitty() {
				if _, ok := slices.BinarySearch(hand, k); !ok {
					t.Fatalf("kitty card %v not in the landlord's hand", k)
				}
			}
			checkConserved(t, g)
		})
	}
}

func TestRedealEvents(t *testing.T) {
	g := NewGame(7, 1)
	before := [3][]Card{g.Hand(0), g.Hand(1), g.Hand(2)}
	g.Bid(1, 0)
	g.Bid(2, 0)
	evs, err := g.Bid(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	kinds := []EventKind{}
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	if !slices.Equal(kinds, []EventKind{BidMade, Redeal, Dealt, Dealt, Dealt}) {
		t.Fatalf("events %v", kinds)
	}
	if evs[1].Seat != 2 || g.FirstBidder() != 2 || g.Turn() != 2 {
		t.Fatalf("redeal names seat %d, first bidder %d, turn %d; want 2", evs[1].Seat, g.FirstBidder(), g.Turn())
	}
	same := 0
	for s := 0; s < 3; s++ {
		if !slices.Equal(evs[2+s].Cards, g.Hand(s)) || evs[2+s].Seat != s {
			t.Fatalf("Dealt event %d does not match hand", s)
		}
		if slices.Equal(before[s], g.Hand(s)) {
			same++
		}
	}
	if same == 3 {
		t.Fatal("the redeal dealt the same cards")
	}
	checkConserved(t, g)
}

func TestBidErrors(t *testing.T) {
	g := NewGame(1, 0)
	if _, err := g.Bid(1, 1); !errors.Is(err, ErrNotYourTurn) {
		t.Errorf("out of turn: %v", err)
	}
	if _, err := g.Bid(0, 4); !errors.Is(err, ErrBadBid) {
		t.Errorf("bid 4: %v", err)
	}
	if _, err := g.Bid(0, -1); !errors.Is(err, ErrBadBid) {
		t.Errorf("bid -1: %v", err)
	}
	if _, err := g.Bid(3, 1); !errors.Is(err, ErrBadSeat) {
		t.Errorf("seat 3: %v", err)
	}
	if _, err := g.Play(0, g.Hand(0)[:1]); !errors.Is(err, ErrWrongPhase) {
		t.Errorf("play while bidding: %v", err)
	}
	if _, err := g.Bid(0, 2); err != nil {
		t.Fatal(err)
	}
	for _, b := range []int{1, 2} {
		if _, err := g.Bid(1, b); !errors.Is(err, ErrBadBid) {
			t.Errorf("bid %d after 2: %v", b, err)
		}
	}
	// Errors change nothing.
	if g.Turn() != 1 || g.CurrentBid() != 2 {
		t.Fatalf("turn %d bid %d after errors", g.Turn(), g.CurrentBid())
	}
	g.Bid(1, 0)
	g.Bid(2, 0)
	if _, err := g.Bid(0, 3); !errors.Is(err, ErrWrongPhase) {
		t.Errorf("bid while playing: %v", err)
	}
}

func TestDeal(t *testing.T) {
	a, b, c := NewGame(5, 0), NewGame(5, 0), NewGame(6, 0)
	for s := 0; s < 3; s++ {
		if len(a.Hand(s)) != 17 {
			t.Fatalf("seat %d has %d cards", s, len(a.Hand(s)))
		}
		if !slices.Equal(a.Hand(s), b.Hand(s)) {
			t.Fatal("same seed, different deal")
		}
	}
	if slices.Equal(a.Hand(0), c.Hand(0)) {
		t.Fatal("different seeds, same deal")
	}
	if g := NewGame(1, -1); g.Turn() != 2 {
		t.Fatalf("firstBidder -1 gives turn %d, want 2", g.Turn())
	}
	if g := NewGame(1, 4); g.Turn() != 1 {
		t.Fatalf("firstBidder 4 gives turn %d, want 1", g.Turn())
	}
	evs := a.Dealt()
	if len(evs) != 3 || evs[1].Kind != Dealt || !slices.Equal(evs[1].Cards, a.Hand(1)) {
		t.Fatalf("Dealt() = %+v", evs)
	}
}

// checkConserved verifies that the hands, the kitty (while bidding) and the
// played cards are exactly the 54 cards.
func checkConserved(t testing.TB, g *Game) {
	t.Helper()
	var all []Card
	for s := 0; s < 3; s++ {
		all = append(all, g.Hand(s)...)
	}
	if g.Landlord() < 0 {
		all = append(all, g.kitty[:]...)
	}
	all = append(all, g.Played()...)
	slices.Sort(all)
	if len(all) != DeckSize {
		t.Fatalf("%d cards in the game, want 54", len(all))
	}
	for i, c := range all {
		if c != Card(i) {
			t.Fatalf("card %v missing or duplicated", Card(i))
		}
	}
}

// rigged makes a game in the playing phase with the given hands (cards need
// not add up to a deck: these tests are about play, not dealing).
func rigged(t testing.TB, landlord, bid int, hands [3]string) *Game {
	t.Helper()
	g := NewGame(0, 0)
	// Parse the hands together so that bare ranks get distinct suits.
	all := mustParse(t, hands[0]+" "+hands[1]+" "+hands[2])
	for s, h := range hands {
		n := len(strings.Fields(h))
		cs := slices.Clone(all[:n])
		all = all[n:]
		slices.Sort(cs)
		g.hands[s] = cs
	}
	g.landlord, g.highBid, g.highSeat = landlord, bid, landlord
	g.phase, g.turn = PhasePlaying, landlord
	return g
}

type move struct {
	seat  int
	cards string // "" passes
}

func playAll(t *testing.T, g *Game, moves []move) []Event {
	t.Helper()
	var evs []Event
	for _, m := range moves {
		var cs []Card
		if m.cards != "" {
			cs = ownCards(t, g.Hand(m.seat), m.cards) // bare ranks: the seat's own cards
		}
		e, err := g.Play(m.seat, cs)
		if err != nil {
			t.Fatalf("seat %d plays %q: %v", m.seat, m.cards, err)
		}
		evs = append(evs, e...)
	}
	return evs
}

// ownCards resolves bare ranks in s to cards of hand.
func ownCards(t *testing.T, hand []Card, s string) []Card {
	t.Helper()
	want := mustParse(t, s)
	var out []Card
	used := map[Card]bool{}
	for _, w := range want {
		found := false
		for _, c := range hand {
			if c.Rank() == w.Rank() && !used[c] {
				used[c] = true
				out = append(out, c)
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("hand %s has no %s", FormatCards(hand), w.Rank())
		}
	}
	return out
}

func TestPlayAndScore(t *testing.T) {
	tests := []struct {
		name       string
		bid        int
		hands      [3]string
		moves      []move
		winner     int
		spring     bool
		anti       bool
		bombs      int
		multiplier int
		scores     [3]int
	}{
		{
			name: "spring", bid: 2,
			hands:  [3]string{"3 3 3 4", "5 6 7", "8 9 10"},
			moves:  []move{{0, "3 3 3 4"}},
			winner: 0, spring: true, multiplier: 4, scores: [3]int{8, -4, -4},
		},
		{
			name: "landlord wins, farmers played", bid: 1,
			hands:  [3]string{"3 A", "5 6 7", "8 9 10"},
			moves:  []move{{0, "3"}, {1, "5"}, {2, ""}, {0, "A"}},
			winner: 0, multiplier: 1, scores: [3]int{2, -1, -1},
		},
		{
			name: "anti-spring", bid: 1,
			hands:  [3]string{"3 5 7 9", "2 K K", "4 6"},
			moves:  []move{{0, "3"}, {1, "2"}, {2, ""}, {0, ""}, {1, "K K"}},
			winner: 1, anti: true, multiplier: 2, scores: [3]int{-4, 2, 2},
		},
		{
			name: "farmers win, landlord played twice", bid: 2,
			hands:  [3]string{"3 5 7 9", "4 6 2", "8 10"},
			moves:  []move{{0, "3"}, {1, "4"}, {2, ""}, {0, "5"}, {1, "2"}, {2, ""}, {0, ""}, {1, "6"}},
			winner: 1, multiplier: 2, scores: [3]int{-4, 2, 2},
		},
		{
			name: "bomb and rocket", bid: 3,
			hands:  [3]string{"3 4 4 4 4 9", "5 BJ RJ 8", "6 7"},
			moves:  []move{{0, "3"}, {1, "5"}, {2, "6"}, {0, "4 4 4 4"}, {1, "BJ RJ"}, {2, ""}, {0, ""}, {1, "8"}},
			winner: 1, bombs: 2, multiplier: 12, scores: [3]int{-24, 12, 12},
		},
		{
			name: "bomb in a spring", bid: 1,
			hands:  [3]string{"3 3 3 3 K", "5 6", "8 9"},
			moves:  []move{{0, "3 3 3 3"}, {1, ""}, {2, ""}, {0, "K"}},
			winner: 0, spring: true, bombs: 1, multiplier: 4, scores: [3]int{8, -4, -4},
		},
		{
			name: "farmer two wins", bid: 2,
			hands:  [3]string{"3 4 5 6 7 9 9", "8", "10 J Q K A"},
			moves:  []move{{0, "3 4 5 6 7"}, {1, ""}, {2, "10 J Q K A"}},
			winner: 2, anti: true, multiplier: 4, scores: [3]int{-8, 4, 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := rigged(t, 0, tt.bid, tt.hands)
			evs := playAll(t, g, tt.moves)
			r, over := g.Result()
			if !over || g.Phase() != PhaseOver || g.Turn() != -1 {
				t.Fatalf("game not over: %v", g.Phase())
			}
			last := evs[len(evs)-1]
			if last.Kind != GameOver || last.Result == nil || *last.Result != r || last.Next != -1 {
				t.Fatalf("last event %+v", last)
			}
			want := Result{Winner: tt.winner, Landlord: 0, LandlordWon: tt.winner == 0, Spring: tt.spring, AntiSpring: tt.anti,
				Bombs: tt.bombs, Bid: tt.bid, Multiplier: tt.multiplier, Scores: tt.scores}
			if r != want {
				t.Fatalf("result %+v\nwant   %+v", r, want)
			}
			if r.Scores[0]+r.Scores[1]+r.Scores[2] != 0 {
				t.Fatal("scores do not sum to zero")
			}
			if g.Multiplier() != tt.multiplier {
				t.Fatalf("Multiplier() = %d", g.Multiplier())
			}
			if _, err := g.Play(g.turn, nil); !errors.Is(err, ErrWrongPhase) {
				t.Fatalf("play after the end: %v", err)
			}
		})
	}
}

func TestPlayRules(t *testing.T) {
	g := rigged(t, 0, 1, [3]string{"3 4 5 6 7 9 9 A", "5 6 7 8 9 10 Q Q", "J K K 2"})
	own := func(seat int, s string) []Card { return ownCards(t, g.Hand(seat), s) }
	if _, err := g.Play(0, nil); !errors.Is(err, ErrMustLead) {
		t.Fatalf("leader passes: %v", err)
	}
	if _, err := g.Play(1, own(1, "5")); !errors.Is(err, ErrNotYourTurn) {
		t.Fatalf("out of turn: %v", err)
	}
	if _, err := g.Play(0, own(1, "Q")); !errors.Is(err, ErrNotInHand) {
		t.Fatalf("someone else's card: %v", err)
	}
	if c := own(0, "3")[0]; true {
		if _, err := g.Play(0, []Card{c, c}); !errors.Is(err, ErrIllegal) {
			t.Fatalf("the same card twice: %v", err)
		}
	}
	if _, err := g.Play(0, []Card{200}); !errors.Is(err, ErrNotInHand) {
		t.Fatalf("invalid card: %v", err)
	}
	if _, err := g.Play(0, own(0, "3 4")); !errors.Is(err, ErrIllegal) {
		t.Fatalf("illegal combination: %v", err)
	}
	if g.HandSize(0) != 8 || g.Turn() != 0 {
		t.Fatal("a rejected play changed the game")
	}
	playAll(t, g, []move{{0, "3 4 5 6 7"}})
	if seat, c, ok := g.LastPlay(); !ok || seat != 0 || c.Kind != Straight || c.Rank != 0 || c.Length != 5 {
		t.Fatalf("LastPlay = %d %v %v", seat, c, ok)
	}
	if _, err := g.Play(1, own(1, "6 7 8 9 10 Q")); !errors.Is(err, ErrIllegal) {
		t.Fatalf("broken straight: %v", err)
	}
	if _, err := g.Play(1, own(1, "Q Q")); !errors.Is(err, ErrDoesNotBeat) {
		t.Fatalf("pair on a straight: %v", err)
	}
	if _, err := g.Play(1, own(1, "6 7 8 9 10")); err != nil {
		t.Fatal(err)
	}
	evs := playAll(t, g, []move{{2, ""}})
	if evs[0].Kind != Passed || evs[0].NewLead || evs[0].Next != 0 {
		t.Fatalf("first pass %+v", evs[0])
	}
	evs = playAll(t, g, []move{{0, ""}})
	if !evs[0].NewLead || evs[0].Next != 1 {
		t.Fatalf("second pass %+v", evs[0])
	}
	if _, _, ok := g.LastPlay(); ok {
		t.Fatal("after two passes there is still a play to beat")
	}
	if _, err := g.Play(1, nil); !errors.Is(err, ErrMustLead) {
		t.Fatalf("new leader passes: %v", err)
	}
	// The new leader may play any kind.
	playAll(t, g, []move{{1, "Q Q"}, {2, "K K"}, {0, ""}})
	checkAllPlayed(t, g, "3 4 5 6 7 6 7 8 9 10 Q Q K K")
}

func checkAllPlayed(t *testing.T, g *Game, want string) {
	t.Helper()
	got := g.Played()
	w := mustParse(t, want)
	if len(got) != len(w) {
		t.Fatalf("played %s, want %s", FormatCards(got), want)
	}
	for i := range got {
		if got[i].Rank() != w[i].Rank() {
			t.Fatalf("played %s, want %s", FormatCards(got), want)
		}
	}
}

func TestAutoMove(t *testing.T) {
	g := NewGame(3, 0)
	if _, err := g.AutoMove(1); !errors.Is(err, ErrNotYourTurn) {
		t.Fatalf("auto out of turn: %v", err)
	}
	evs, err := g.AutoMove(0)
	if err != nil || evs[0].Kind != BidMade || evs[0].Bid != 0 {
		t.Fatalf("auto bid: %+v %v", evs, err)
	}

	g = rigged(t, 1, 1, [3]string{"5 9", "4 3 K", "6 7"})
	evs, err = g.AutoMove(1)
	if err != nil || evs[0].Kind != Played || FormatCards(evs[0].Cards) != "3♠" {
		t.Fatalf("auto lead: %+v %v", evs, err)
	}
	evs, err = g.AutoMove(2)
	if err != nil || evs[0].Kind != Passed {
		t.Fatalf("auto follow: %+v %v", evs, err)
	}
	if _, err := g.AutoMove(-1); !errors.Is(err, ErrBadSeat) {
		t.Fatalf("bad seat: %v", err)
	}
}

// The reading the leader chose is what the next player must beat: led as an
// airplane of four, 333444555666 is beaten only by a higher airplane of four.
func TestPlayAs(t *testing.T) {
	g := rigged(t, 0, 1, [3]string{"3 3 3 4 4 4 5 5 5 6 6 6 9", "7 7 7 8 8 8 9 9 9 10 J Q", "K"})
	lead := ownCards(t, g.Hand(0), "3 3 3 4 4 4 5 5 5 6 6 6")
	evs, err := g.PlayAs(0, lead, Reading{Kind: Airplane, Rank: 0, Length: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got := ReadingOf(evs[0].Combo); got != (Reading{Kind: Airplane, Rank: 0, Length: 4}) {
		t.Fatalf("played as %v", got)
	}
	// 777888999 + 10 J Q would beat the wings reading, not the airplane.
	if _, err := g.Play(1, ownCards(t, g.Hand(1), "7 7 7 8 8 8 9 9 9 10 J Q")); !errors.Is(err, ErrDoesNotBeat) {
		t.Fatalf("wings on an airplane of four: %v", err)
	}
	// A reading the cards do not have is refused and changes nothing.
	g2 := rigged(t, 0, 1, [3]string{"3 3 3 4 4 4 5 5 5 6 6 6 9", "7", "K"})
	if _, err := g2.PlayAs(0, ownCards(t, g2.Hand(0), "3 3 3 4 4 4 5 5 5 6 6 6"), Reading{Kind: Bomb, Rank: 0, Length: 1}); !errors.Is(err, ErrNoSuchReading) {
		t.Fatalf("no such reading: %v", err)
	}
	if g2.HandSize(0) != 13 || g2.Turn() != 0 {
		t.Fatalf("a refused play changed the game: hand %d, turn %d", g2.HandSize(0), g2.Turn())
	}
}
