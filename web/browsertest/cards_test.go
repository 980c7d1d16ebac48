//go:build browser

package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gamehall/gamehall/game/doudizhu"
)

// checkReadings compares web/static/js/cards.js readings() with
// doudizhu.ClassifyAll on random card sets, biased towards combinations
// (runs of equal ranks, sequences) so that every kind shows up.
func checkReadings(t *testing.T, ctx context.Context) {
	rng := rand.New(rand.NewPCG(1, 2))
	var sets [][]int
	for len(sets) < 3000 {
		sets = append(sets, randomSet(rng))
	}
	arg, _ := json.Marshal(sets)
	got := eval[[][][3]int](t, ctx, fmt.Sprintf(`%s.map(cs => window.gamehall.cards.readings(cs).map(r => [r.kind, r.rank, r.length]))`, arg))
	kinds := map[doudizhu.Kind]int{}
	for i, set := range sets {
		cs := toCards(set)
		var want [][3]int
		for _, c := range doudizhu.ClassifyAll(cs) {
			want = append(want, [3]int{int(c.Kind), int(c.Rank), c.Length})
			kinds[c.Kind]++
		}
		if !slices.Equal(got[i], want) {
			t.Errorf("%s: page reads %v, server %v", doudizhu.FormatCards(cs), got[i], want)
		}
	}
	t.Logf("%d card sets agree; readings by kind: %v", len(sets), kinds)
}

func randomSet(rng *rand.Rand) []int {
	deck := rng.Perm(54)
	switch rng.IntN(3) {
	case 0: // any cards
		return deck[:1+rng.IntN(12)]
	default: // a few ranks, several cards of each, often consecutive
		var out []int
		lo := rng.IntN(12)
		for r := lo; r < lo+1+rng.IntN(5) && r < 13; r++ {
			n := 1 + rng.IntN(4)
			for s := 0; s < n; s++ {
				out = append(out, r*4+s)
			}
		}
		if rng.IntN(2) == 0 {
			out = append(out, deck[:rng.IntN(4)]...)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
}
