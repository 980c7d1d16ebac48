package doudizhu

import "testing"

var benchSets = []string{
	"7", "K K", "9 9 9", "5 5 5 3", "5 5 5 2 2", "3 4 5 6 7 8 9", "3 3 4 4 5 5",
	"3 3 3 4 4 4 7 9", "8 8 8 9 9 9 3 3 2 2", "3 3 3 4 4 4 5 5 5 6 6 6",
	"6 6 6 6 3 9", "2 2 2 2", "BJ RJ",
}

func BenchmarkClassify(b *testing.B) {
	sets := make([][]Card, len(benchSets))
	for i, s := range benchSets {
		sets[i] = mustParse(b, s)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Classify(sets[i%len(sets)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClassifyBeating(b *testing.B) {
	cards := mustParse(b, "4 4 4 5 5 5 6 6 6 7 7 7")
	prev := Combo{Kind: AirplaneSingles, Rank: 1, Length: 3}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ClassifyBeating(cards, prev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBeats(b *testing.B) {
	combos := make([]Combo, len(benchSets))
	for i, s := range benchSets {
		c, err := Classify(mustParse(b, s))
		if err != nil {
			b.Fatal(err)
		}
		combos[i] = c
	}
	b.ReportAllocs()
	n, i, j := 0, 0, 0
	for b.Loop() {
		// every ordered pair of combos in turn, without divisions in the loop
		if Beats(combos[i], combos[j]) {
			n++
		}
		if i++; i == len(combos) {
			i = 0
			if j++; j == len(combos) {
				j = 0
			}
		}
	}
	_ = n
}

func BenchmarkLegalMovesLead(b *testing.B) {
	g := NewGame(11, 0)
	hand := g.Hand(0)
	b.ReportAllocs()
	for b.Loop() {
		LegalMoves(hand, Combo{})
	}
}

// BenchmarkGameAutoMove: a whole game as the turn timer plays it (seat 0
// bids 1, then every move is AutoMove).
func BenchmarkGameAutoMove(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		g := NewGame(int64(i), 0)
		if _, err := g.Bid(0, 1); err != nil {
			b.Fatal(err)
		}
		for g.Phase() != PhaseOver {
			if _, err := g.AutoMove(g.Turn()); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkGameSuggest: a whole game of three bots (SuggestBidFor and
// SuggestPlay), including any redeals.
func BenchmarkGameSuggest(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		g := NewGame(int64(i), i%3)
		for g.Phase() != PhaseOver {
			seat := g.Turn()
			var err error
			if g.Phase() == PhaseBidding {
				_, err = g.Bid(seat, SuggestBidFor(g, seat))
			} else {
				_, err = g.Play(seat, SuggestPlay(g, seat))
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
