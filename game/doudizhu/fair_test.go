package doudizhu

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
)

// The first deal of the all-zero seed, pinned: clients in other languages
// check their shuffle against it (docs/protocol.md repeats it).
func TestDealsVector(t *testing.T) {
	d := Deals(Seed{}, 1)[0]
	var nums []int
	for _, c := range append(d.Hands[0][:], d.Kitty[:]...) {
		nums = append(nums, int(c))
	}
	got := fmt.Sprint(nums)
	c := Commitment(Seed{})
	if hex.EncodeToString(c[:]) != "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925" {
		t.Fatalf("commitment of the zero seed: %x", c)
	}
	if want := zeroSeedDeal; got != want {
		t.Fatalf("zero seed deal:\n got %s\nwant %s", got, want)
	}
}

// zeroSeedDeal: seat 0's hand, then the kitty, as card numbers.
const zeroSeedDeal = "[0 4 5 9 17 20 22 23 25 28 32 37 41 43 46 50 53 1 11 49]"

// A fair game deals exactly what Deals recomputes from its seed, redeals
// included, and every card is dealt once.
func TestFairGameMatchesDeals(t *testing.T) {
	var seed Seed
	copy(seed[:], "a table's secret seed, 32 bytes!")
	g := NewFairGame(seed, 0)
	for range 3 { // everyone passes: a redeal
		if _, err := g.Bid(g.Turn(), 0); err != nil {
			t.Fatal(err)
		}
	}
	if g.Redeals() != 1 {
		t.Fatalf("redeals %d", g.Redeals())
	}
	deals := Deals(seed, 2)
	for s := 0; s < Seats; s++ {
		if !slices.Equal(g.Hand(s), deals[1].Hands[s][:]) {
			t.Fatalf("seat %d after the redeal holds %v, Deals says %v", s, g.Hand(s), deals[1].Hands[s])
		}
	}
	if g2 := NewFairGame(seed, 0); !slices.Equal(g2.Hand(0), deals[0].Hands[0][:]) {
		t.Fatal("first deal differs from Deals")
	}
	for _, d := range deals {
		var seen [DeckSize]bool
		cards := slices.Concat(d.Hands[0][:], d.Hands[1][:], d.Hands[2][:], d.Kitty[:])
		for _, c := range cards {
			if seen[c] {
				t.Fatalf("card %v dealt twice", c)
			}
			seen[c] = true
		}
	}
	if Commitment(seed) != sha256.Sum256(seed[:]) {
		t.Fatal("commitment is not SHA-256 of the seed")
	}
}

// Over many seeds every card lands in the kitty about 3/54 of the time: the
// shuffle is not visibly biased. Deterministic (fixed seeds), so not flaky.
func TestDealsSpreadCards(t *testing.T) {
	const n = 20000
	var inKitty [DeckSize]int
	for i := range n {
		var seed Seed
		seed[0], seed[1], seed[2] = byte(i), byte(i>>8), byte(i>>16)
		for _, c := range Deals(seed, 1)[0].Kitty {
			inKitty[c]++
		}
	}
	want := float64(n) * 3 / DeckSize // ≈ 1111; σ ≈ 32
	for c, k := range inKitty {
		if float64(k) < want*0.85 || float64(k) > want*1.15 {
			t.Errorf("card %d in the kitty %d times of %d deals, want about %.0f", c, k, n, want)
		}
	}
}
