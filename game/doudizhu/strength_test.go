package doudizhu

import (
	"math/rand/v2"
	"testing"
)

// playTeams plays one game where the seats in smart use SuggestBid/SuggestPlay
// and the others play uniformly random legal moves; it returns whether the
// smart side won. The landlord is fixed to seat 0 at bid 1 so the sides are
// what the test says they are.
func playTeams(t *testing.T, seed int64, smartLandlord bool) bool {
	g := NewGame(seed, 0)
	if _, err := g.Bid(0, 1); err != nil {
		t.Fatal(err)
	}
	g.Bid(1, 0)
	g.Bid(2, 0)
	r := rand.New(rand.NewPCG(uint64(seed), 99))
	for g.Phase() != PhaseOver {
		seat := g.Turn()
		var cs []Card
		if (seat == 0) == smartLandlord {
			cs = SuggestPlay(g, seat)
		} else {
			_, prev, following := g.LastPlay()
			moves := LegalMoves(g.Hand(seat), prev)
			if i := r.IntN(len(moves) + 1); i < len(moves) {
				cs = moves[i].Cards
			} else if !following {
				cs = moves[0].Cards
			}
		}
		if _, err := g.Play(seat, cs); err != nil {
			t.Fatal(err)
		}
	}
	res, _ := g.Result()
	return res.LandlordWon == smartLandlord
}

// The strategy must clearly beat random play on both sides of the table.
// Deterministic: fixed seeds.
func TestSuggestBeatsRandom(t *testing.T) {
	const n = 200
	for _, smartLandlord := range []bool{true, false} {
		wins := 0
		for seed := int64(0); seed < n; seed++ {
			if playTeams(t, seed, smartLandlord) {
				wins++
			}
		}
		t.Logf("smart landlord=%v: smart side won %d of %d", smartLandlord, wins, n)
		if wins < n*7/10 {
			t.Errorf("smart landlord=%v: smart side won only %d of %d games against random play", smartLandlord, wins, n)
		}
	}
}
