package client

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"github.com/gamehall/gamehall/game/doudizhu"
	"github.com/gamehall/gamehall/protocol/pb"
)

// DealCheck verifies a seat's games: it keeps the commitment and the hands
// the seat was dealt (the deal and each redeal) and the kitty, and at the
// game's end checks them against the revealed seed (see doudizhu.Deals).
type DealCheck struct {
	gameID     string
	commitment []byte
	hands      [][]byte
	kitty      []byte
}

// Errors of Verify.
var (
	ErrNotWatched = errors.New("client: the game's first deal was not seen (joined mid-game)")
	ErrUnfair     = errors.New("client: the deal does not match its commitment")
)

// Observe takes one of the seat's game events (call it for every one).
func (d *DealCheck) Observe(ev *pb.GameEvent) {
	switch ev.Kind {
	case pb.GameEventKind_DEAL:
		if ev.GameId != d.gameID || d.commitment == nil {
			*d = DealCheck{gameID: ev.GameId, commitment: slices.Clone(ev.DealCommitment)}
		}
		d.hands = append(d.hands, slices.Clone(ev.Cards))
	case pb.GameEventKind_LANDLORD:
		d.kitty = slices.Clone(ev.Cards)
	}
}

// Verify checks the game that over (GAME_OVER or ESCAPE) ends, for the seat
// mySeat: the seed matches the commitment shown at the deal, and every hand
// dealt and the kitty are the ones the seed makes. ErrNotWatched when this
// check did not see the game's deal; an error wrapping ErrUnfair otherwise.
func (d *DealCheck) Verify(over *pb.GameEvent, mySeat int) error {
	defer func() { *d = DealCheck{} }()
	if d.commitment == nil || over.GameId != d.gameID {
		return ErrNotWatched
	}
	return VerifyDeals(over.DealSeed, d.commitment, mySeat, d.hands, d.kitty)
}

// VerifyDeals checks a revealed seed against the commitment and the cards a
// seat saw: hands[k] is its hand of deal k (0 = the deal, then redeals),
// kitty the LANDLORD event's cards (nil if bidding never ended).
func VerifyDeals(seed, commitment []byte, seat int, hands [][]byte, kitty []byte) error {
	if len(seed) != len(doudizhu.Seed{}) {
		return fmt.Errorf("%w: seed of %d bytes, want 32", ErrUnfair, len(seed))
	}
	if sum := sha256.Sum256(seed); !bytes.Equal(sum[:], commitment) {
		return fmt.Errorf("%w: SHA-256 of the seed is %x, the commitment was %x", ErrUnfair, sum, commitment)
	}
	if seat < 0 || seat >= doudizhu.Seats || len(hands) == 0 {
		return fmt.Errorf("%w: seat %d with %d deals", ErrUnfair, seat, len(hands))
	}
	deals := doudizhu.Deals(doudizhu.Seed(seed), len(hands))
	for k, h := range hands {
		want := cardBytes(deals[k].Hands[seat][:])
		got := slices.Sorted(slices.Values(h))
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%w: deal %d gave seat %d %v, the seed deals %v", ErrUnfair, k, seat, got, want)
		}
	}
	if kitty != nil {
		want := cardBytes(deals[len(deals)-1].Kitty[:])
		if got := slices.Sorted(slices.Values(kitty)); !bytes.Equal(got, want) {
			return fmt.Errorf("%w: the kitty was %v, the seed deals %v", ErrUnfair, got, want)
		}
	}
	return nil
}

func cardBytes(cs []doudizhu.Card) []byte {
	b := make([]byte, len(cs))
	for i, c := range cs {
		b[i] = byte(c)
	}
	return b
}
