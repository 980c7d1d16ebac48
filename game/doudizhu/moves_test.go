package doudizhu

import (
	"math/rand/v2"
	"slices"
	"testing"
)

type signature [NumRanks]uint8

func sigOf(cs []Card) signature {
	var s signature
	for _, c := range cs {
		s[c.Rank()]++
	}
	return s
}

// randomHand draws n distinct cards; with narrow set, from few ranks so that
// triples, bombs and airplanes are common.
func randomHand(r *rand.Rand, n int, narrow bool) []Card {
	var pool []Card
	if narrow {
		start := r.IntN(8) // ranks start..start+4, all below the 2s added next
		for c := Card(start * 4); c < Card((start+5)*4); c++ {
			pool = append(pool, c)
		}
		pool = append(pool, 48+Card(r.IntN(4)), BlackJoker, RedJoker)
	} else {
		for c := Card(0); c < DeckSize; c++ {
			pool = append(pool, c)
		}
	}
	r.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	h := slices.Clone(pool[:n])
	slices.Sort(h)
	return h
}

// LegalMoves must list exactly the rank-level plays that a brute force over
// every subset of the hand finds legal (and beating prev).
func TestLegalMovesMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 300; trial++ {
		n := 4 + r.IntN(9) // up to 12 cards: 4096 subsets
		hand := randomHand(r, n, trial%2 == 0)
		var prev Combo
		if trial%3 != 0 {
			other := LegalMoves(randomHand(r, 12, trial%4 == 1), Combo{})
			prev = other[r.IntN(len(other))]
		}
		want := map[signature]bool{}
		sub := make([]Card, 0, n)
		for mask := 1; mask < 1<<n; mask++ {
			sub = sub[:0]
			for i := 0; i < n; i++ {
				if mask&(1<<i) != 0 {
					sub = append(sub, hand[i])
				}
			}
			if _, err := ClassifyBeating(sub, prev); err == nil {
				want[sigOf(sub)] = true
			}
		}
		got := map[signature]bool{}
		for _, m := range LegalMoves(hand, prev) {
			c, err := ClassifyBeating(m.Cards, prev)
			if err != nil {
				t.Fatalf("hand %s prev %v: move %v does not classify: %v", FormatCards(hand), prev, m, err)
			}
			found := false
			for _, rd := range ClassifyAll(m.Cards) {
				found = found || (rd.Kind == m.Kind && rd.Rank == m.Rank && rd.Length == m.Length)
			}
			if !found || !Beats(m, prev) {
				t.Fatalf("move %v is not a beating reading of its cards (got %v)", m, c)
			}
			for _, card := range m.Cards {
				if _, ok := slices.BinarySearch(hand, card); !ok {
					t.Fatalf("move %v uses %v, not in hand", m, card)
				}
			}
			got[sigOf(m.Cards)] = true
		}
		for s := range want {
			if !got[s] {
				t.Fatalf("hand %s prev %v: LegalMoves misses %v", FormatCards(hand), prev, s)
			}
		}
		for s := range got {
			if !want[s] {
				t.Fatalf("hand %s prev %v: LegalMoves has extra %v", FormatCards(hand), prev, s)
			}
		}
	}
}
