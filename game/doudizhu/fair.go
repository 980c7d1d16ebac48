package doudizhu

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// Provably fair deals. The table draws a secret 32-byte Seed before the
// deal and shows every player its Commitment, SHA-256(seed), with the first
// cards. Every shuffle of the game (the deal and any redeals) comes from
// the seed alone, so when the seed is revealed at the end anyone can
// recompute the deals (Deals) and check the commitment: the cards were
// fixed before the first bid, and no one could have chosen them after.
//
// The shuffle is defined byte for byte so that any client can redo it
// (docs/protocol.md): block k of the stream is SHA-256(seed ‖ k as 8 bytes
// big-endian), read as big-endian uint32s; a uniform number below n is
// x mod n for the first x below 2³² − (2³² mod n); the deck 0…53 is
// shuffled by Fisher–Yates from the top (i = 53 down to 1 swaps i with a
// uniform j ≤ i); seat s gets cards 17s…17s+16, the kitty the last three.

// Seed is the secret a fair game's deals come from.
type Seed [32]byte

// Commitment is what the players see before the first bid: SHA-256(seed).
func Commitment(seed Seed) [32]byte { return sha256.Sum256(seed[:]) }

// Deal is one deal's cards, each hand and the kitty sorted.
type Deal struct {
	Hands [Seats][17]Card
	Kitty [3]Card
}

// Deals recomputes the first n deals of a fair game from its seed: the deal,
// then one per redeal.
func Deals(seed Seed, n int) []Deal {
	st := newDealStream(seed)
	out := make([]Deal, n)
	for i := range out {
		out[i] = dealFrom(st)
	}
	return out
}

func dealFrom(rng shuffler) Deal {
	var deck [DeckSize]Card
	for i := range deck {
		deck[i] = Card(i)
	}
	rng.Shuffle(len(deck), func(i, j int) { deck[i], deck[j] = deck[j], deck[i] })
	var d Deal
	for s := 0; s < Seats; s++ {
		copy(d.Hands[s][:], deck[s*17:(s+1)*17])
		slices.Sort(d.Hands[s][:])
	}
	copy(d.Kitty[:], deck[51:])
	slices.Sort(d.Kitty[:])
	return d
}

// dealStream is the shuffle's randomness: SHA-256 in counter mode over the seed.
type dealStream struct {
	seed  Seed
	block uint64
	buf   [sha256.Size]byte
	off   int
}

func newDealStream(seed Seed) *dealStream {
	return &dealStream{seed: seed, off: sha256.Size}
}

func (d *dealStream) uint32() uint32 {
	if d.off == sha256.Size {
		var in [len(Seed{}) + 8]byte
		copy(in[:], d.seed[:])
		binary.BigEndian.PutUint64(in[len(Seed{}):], d.block)
		d.buf = sha256.Sum256(in[:])
		d.block++
		d.off = 0
	}
	v := binary.BigEndian.Uint32(d.buf[d.off:])
	d.off += 4
	return v
}

// below returns a uniform number in [0, n) by rejection: no bias.
func (d *dealStream) below(n uint32) uint32 {
	limit := 1<<32 - (1<<32)%uint64(n)
	for {
		if x := d.uint32(); uint64(x) < limit {
			return x % n
		}
	}
}

// Shuffle is Fisher–Yates from the top.
func (d *dealStream) Shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, int(d.below(uint32(i+1))))
	}
}
