package doudizhu

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// cardCount is the number of cards a combination of kind and length holds.
func cardCount(k Kind, length int) int {
	switch k {
	case Single:
		return 1
	case Pair, Rocket:
		return 2
	case Triple:
		return 3
	case TripleSingle, Bomb:
		return 4
	case TriplePair:
		return 5
	case Straight:
		return length
	case PairStraight:
		return 2 * length
	case Airplane:
		return 3 * length
	case AirplaneSingles:
		return 4 * length
	case AirplanePairs:
		return 5 * length
	case FourTwoSingles:
		return 6
	case FourTwoPairs:
		return 8
	}
	return -1
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"3", "3 3", "BJ RJ", "3 4 5 6 7", "3 3 4 4 5 5", "3 3 3 4 4 4 5 6",
		"3 3 3 4 4 4 5 5 5 6 6 6", "8 8 8 9 9 9 3 3 2 2", "6 6 6 6 3 3 2 2", "6 6 6 6 BJ RJ", "J Q K A 2"} {
		cs, err := ParseCards(s)
		if err != nil {
			f.Fatal(err)
		}
		b := make([]byte, len(cs))
		for i, c := range cs {
			b[i] = byte(c)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{200, 1})
	f.Add([]byte{4, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		cards := make([]Card, len(data))
		for i, b := range data {
			cards[i] = Card(b)
		}
		c, err := Classify(cards)
		if err != nil {
			if !errors.Is(err, ErrIllegal) {
				t.Fatalf("Classify error %v does not wrap ErrIllegal", err)
			}
			if len(ClassifyAll(cards)) != 0 {
				t.Fatal("ClassifyAll finds readings Classify rejects")
			}
			return
		}
		if cardCount(c.Kind, c.Length) != len(cards) {
			t.Fatalf("%v: %d cards for %v×%d", FormatCards(cards), len(cards), c.Kind, c.Length)
		}
		// Re-classifying, in any order, gives the same combination.
		again, err := Classify(c.Cards)
		if err != nil || again.Kind != c.Kind || again.Rank != c.Rank || again.Length != c.Length {
			t.Fatalf("re-classify %v: %v, %v", c, again, err)
		}
		rev := slices.Clone(cards)
		slices.Reverse(rev)
		again, err = Classify(rev)
		if err != nil || again.Kind != c.Kind || again.Rank != c.Rank || again.Length != c.Length {
			t.Fatalf("reversed %v: %v, %v", c, again, err)
		}
		// Through text and back.
		parsed, err := ParseCards(FormatCards(cards))
		if err != nil || !slices.Equal(parsed, cards) {
			t.Fatalf("text round trip of %v: %v, %v", cards, parsed, err)
		}
		// A combination never beats itself (Classify chose the strongest reading).
		if _, err := ClassifyBeating(cards, c); !errors.Is(err, ErrDoesNotBeat) {
			t.Fatalf("%v beats itself: %v", c, err)
		}
		all := ClassifyAll(cards)
		if len(all) == 0 || all[0].Kind != c.Kind || all[0].Rank != c.Rank || all[0].Length != c.Length {
			t.Fatalf("ClassifyAll(%v)[0] = %v, Classify = %v", FormatCards(cards), all, c)
		}
	})
}

func FuzzParseCards(f *testing.F) {
	for _, s := range []string{"", "3♠ 10♥ BJ RJ", "3 3 3 3", "3s,th qd", "3 3 3 3 3", "1♠", "10x", "♠♠"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseCards(s)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error %v does not wrap ErrParse", err)
			}
			return
		}
		seen := map[Card]bool{}
		for _, c := range cs {
			if !c.Valid() || seen[c] {
				t.Fatalf("ParseCards(%q) gave bad or duplicate card %d", s, c)
			}
			seen[c] = true
		}
		again, err := ParseCards(FormatCards(cs))
		if err != nil || !slices.Equal(again, cs) {
			t.Fatalf("round trip of %q: %v, %v", s, again, err)
		}
	})
}

// Policies of the random-game fuzzer.
const (
	policyRandom = iota
	policySuggest
	policyAuto
)

func FuzzRandomGame(f *testing.F) {
	for i := int64(0); i < 12; i++ {
		f.Add(i, uint8(i%3), uint8(i*7))
	}
	f.Add(int64(-1), uint8(200), uint8(255))
	f.Fuzz(func(t *testing.T, seed int64, first, mode uint8) {
		playRandomGame(t, seed, int(first), int(mode))
	})
}

// playRandomGame plays one game with a policy per seat taken from mode and
// checks every rule on the way.
func playRandomGame(t testing.TB, seed int64, first, mode int) Result {
	g := NewGame(seed, first)
	r := rand.New(rand.NewPCG(uint64(seed), uint64(mode)))
	policy := [3]int{mode % 3, mode / 3 % 3, mode / 9 % 3}
	var plays [3]int
	bombs := 0
	for step := 0; g.Phase() != PhaseOver; step++ {
		if step > 2000 {
			t.Fatalf("no end after %d steps", step)
		}
		seat := g.Turn()
		// An action out of turn is refused and changes nothing.
		other := (seat + 1) % 3
		if _, err := g.Play(other, g.Hand(other)[:1]); !errors.Is(err, ErrNotYourTurn) && !errors.Is(err, ErrWrongPhase) {
			t.Fatalf("out-of-turn play: %v", err)
		}
		if g.Phase() == PhaseBidding {
			var err error
			switch p := policy[seat]; {
			case p == policyAuto && g.Redeals() < 3:
				_, err = g.AutoMove(seat)
			case p == policySuggest && g.Redeals() < 3:
				_, err = g.Bid(seat, SuggestBidFor(g, seat))
			default: // random legal bid; also breaks endless all-pass redeals
				b := 0
				if hb := g.CurrentBid(); hb < 3 && r.IntN(2) == 0 {
					b = hb + 1 + r.IntN(3-hb)
				}
				_, err = g.Bid(seat, b)
			}
			if err != nil {
				t.Fatalf("bid: %v", err)
			}
			checkConserved(t, g)
			continue
		}
		_, prev, following := g.LastPlay()
		hand := g.Hand(seat)
		var evs []Event
		var err error
		switch policy[seat] {
		case policyAuto:
			evs, err = g.AutoMove(seat)
		case policySuggest:
			evs, err = g.Play(seat, SuggestPlay(g, seat))
		default:
			moves := LegalMoves(hand, prev)
			if len(moves) == 0 && !following {
				t.Fatalf("no legal lead from %s", FormatCards(hand))
			}
			var cs []Card
			if i := r.IntN(len(moves) + 1); i < len(moves) {
				cs = moves[i].Cards
			} else if !following {
				cs = moves[0].Cards
			}
			evs, err = g.Play(seat, cs)
		}
		if err != nil {
			t.Fatalf("seat %d (policy %d) hand %s on %v: %v", seat, policy[seat], FormatCards(hand), prev, err)
		}
		switch e := evs[0]; e.Kind {
		case Passed:
			if !following {
				t.Fatal("the leader passed")
			}
		case Played:
			c, err := Classify(e.Cards)
			if err != nil {
				t.Fatalf("accepted an illegal play %s: %v", FormatCards(e.Cards), err)
			}
			ok := false
			for _, rd := range ClassifyAll(e.Cards) {
				ok = ok || (rd.Kind == e.Combo.Kind && rd.Rank == e.Combo.Rank && rd.Length == e.Combo.Length)
			}
			if !ok || c.Kind == KindNone {
				t.Fatalf("played combo %v is not a reading of its cards", e.Combo)
			}
			if following && !Beats(e.Combo, prev) {
				t.Fatalf("%v does not beat %v", e.Combo, prev)
			}
			for _, card := range e.Cards {
				if _, in := slices.BinarySearch(hand, card); !in {
					t.Fatalf("played %v, not in hand", card)
				}
			}
			if g.HandSize(seat) != len(hand)-len(e.Cards) {
				t.Fatal("hand size did not drop by the cards played")
			}
			plays[seat]++
			if e.Combo.Kind == Bomb || e.Combo.Kind == Rocket {
				bombs++
			}
		default:
			t.Fatalf("first event of a play is %v", e.Kind)
		}
		checkConserved(t, g)
	}
	res, over := g.Result()
	if !over {
		t.Fatal("no result")
	}
	empty := 0
	for s := 0; s < 3; s++ {
		if g.HandSize(s) == 0 {
			empty++
			if s != res.Winner {
				t.Fatalf("seat %d is empty but %d won", s, res.Winner)
			}
		}
	}
	if empty != 1 {
		t.Fatalf("%d empty hands", empty)
	}
	if res.Scores[0]+res.Scores[1]+res.Scores[2] != 0 {
		t.Fatalf("scores %v do not sum to zero", res.Scores)
	}
	ll := g.Landlord()
	farmerPlays := plays[0] + plays[1] + plays[2] - plays[ll]
	spring := res.LandlordWon && farmerPlays == 0
	anti := !res.LandlordWon && plays[ll] == 1
	m := g.CurrentBid() << bombs
	if spring || anti {
		m *= 2
	}
	if res.Spring != spring || res.AntiSpring != anti || res.Bombs != bombs || res.Multiplier != m ||
		res.LandlordWon != (res.Winner == ll) || res.Landlord != ll {
		t.Fatalf("result %+v; want spring %v anti %v bombs %d multiplier %d", res, spring, anti, bombs, m)
	}
	want := -2 * m
	if res.LandlordWon {
		want = 2 * m
	}
	if res.Scores[ll] != want {
		t.Fatalf("landlord scores %d, want %d", res.Scores[ll], want)
	}
	return res
}

// TestManyGames runs the random-game checks over many seeds and every mix of
// policies, as a plain test.
func TestManyGames(t *testing.T) {
	var springs, antis, landlordWins int
	games := 0
	for seed := int64(0); seed < 20; seed++ {
		for mode := 0; mode < 27; mode++ {
			r := playRandomGame(t, seed*31+int64(mode), int(seed%3), mode)
			games++
			if r.Spring {
				springs++
			}
			if r.AntiSpring {
				antis++
			}
			if r.LandlordWon {
				landlordWins++
			}
		}
	}
	t.Logf("%d games: landlord won %d, springs %d, anti-springs %d", games, landlordWins, springs, antis)
}
