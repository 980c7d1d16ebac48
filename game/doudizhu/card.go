package doudizhu

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Card is one of the 54 cards: rank*4+suit for the ranks 3,4,...,K,A,2
// (Rank 0..12, suits ♠♥♣♦ = 0..3), 52 = black joker, 53 = red joker. The
// numeric order is the rank order, so sorting Cards sorts by rank.
type Card uint8

// Rank orders cards for play: 0 is a three, 12 a two, 13 the black joker and
// 14 the red joker.
type Rank int8

// Rank values worth naming.
const (
	RankThree      Rank = 0
	RankTen        Rank = 7
	RankAce        Rank = 11
	RankTwo        Rank = 12
	RankBlackJoker Rank = 13
	RankRedJoker   Rank = 14

	// NumRanks is the number of distinct ranks (13 plain ranks + 2 jokers).
	NumRanks = 15
)

// The jokers and the deck size.
const (
	BlackJoker Card = 52
	RedJoker   Card = 53
	DeckSize        = 54
)

var rankNames = [NumRanks]string{"3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K", "A", "2", "BJ", "RJ"}

var suitNames = [4]string{"♠", "♥", "♣", "♦"}

// Valid reports whether c is one of the 54 cards.
func (c Card) Valid() bool { return c < DeckSize }

// Rank is the card's play rank (see Rank).
func (c Card) Rank() Rank {
	switch {
	case c == BlackJoker:
		return RankBlackJoker
	case c >= RedJoker:
		return RankRedJoker
	}
	return Rank(c / 4)
}

// Suit is 0..3 (♠♥♣♦) for plain cards and -1 for jokers.
func (c Card) Suit() int {
	if c >= BlackJoker {
		return -1
	}
	return int(c % 4)
}

// String is e.g. "3♠", "10♥", "BJ", "RJ"; invalid values print as "?60".
func (c Card) String() string {
	switch {
	case c == BlackJoker:
		return "BJ"
	case c == RedJoker:
		return "RJ"
	case c > RedJoker:
		return fmt.Sprintf("?%d", uint8(c))
	}
	return rankNames[c/4] + suitNames[c%4]
}

// String is the rank's name without suit: "3" .. "2", "BJ", "RJ".
func (r Rank) String() string {
	if r < 0 || int(r) >= NumRanks {
		return fmt.Sprintf("rank(%d)", int8(r))
	}
	return rankNames[r]
}

// FormatCards writes cards in order, space separated, e.g. "3♠ 3♥ BJ".
func FormatCards(cs []Card) string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(c.String())
	}
	return b.String()
}

// ErrParse is wrapped by every ParseCards error.
var ErrParse = errors.New("doudizhu: cannot parse cards")

// ParseCards is the inverse of FormatCards. Tokens are separated by spaces or
// commas. A token is a rank (3..10, T, J, Q, K, A, 2; case-insensitive)
// followed by a suit (♠♥♣♦ or S H C D), or BJ / RJ for the jokers. For
// convenience in tests a rank may be given without a suit: it then takes the
// lowest suit of that rank not named elsewhere in s. Duplicates are an error.
// The result keeps the order of s.
func ParseCards(s string) ([]Card, error) {
	toks := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	out := make([]Card, len(toks))
	var used [DeckSize]bool
	bare := make([]int, 0, 4) // indexes of suitless tokens, resolved after the suited ones
	for i, t := range toks {
		c, suitless, err := parseToken(t)
		if err != nil {
			return nil, err
		}
		if suitless {
			out[i] = c // rank*4; the suit is picked below
			bare = append(bare, i)
			continue
		}
		if used[c] {
			return nil, fmt.Errorf("%w: duplicate card %s", ErrParse, c)
		}
		used[c] = true
		out[i] = c
	}
	for _, i := range bare {
		base := out[i]
		found := false
		for s := Card(0); s < 4; s++ {
			if !used[base+s] {
				used[base+s] = true
				out[i] = base + s
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: more than four cards of rank %s", ErrParse, Rank(base/4))
		}
	}
	return out, nil
}

// parseToken reads one card token; suitless means only the rank was given
// and c is rank*4.
func parseToken(t string) (c Card, suitless bool, err error) {
	u := strings.ToUpper(t)
	switch u {
	case "BJ":
		return BlackJoker, false, nil
	case "RJ":
		return RedJoker, false, nil
	}
	rank := -1
	rest := ""
	switch {
	case strings.HasPrefix(u, "10"):
		rank, rest = int(RankTen), u[2:]
	case u != "":
		rest = u[1:]
		switch b := u[0]; {
		case b >= '3' && b <= '9':
			rank = int(b - '3')
		case b == 'T':
			rank = int(RankTen)
		case b == 'J':
			rank = 8
		case b == 'Q':
			rank = 9
		case b == 'K':
			rank = 10
		case b == 'A':
			rank = int(RankAce)
		case b == '2':
			rank = int(RankTwo)
		}
	}
	if rank < 0 {
		return 0, false, fmt.Errorf("%w: %q is not a card (want e.g. 3♠, 10H, QD, BJ, RJ)", ErrParse, t)
	}
	suit := -1
	switch rest {
	case "":
		return Card(rank * 4), true, nil
	case "♠", "S":
		suit = 0
	case "♥", "H":
		suit = 1
	case "♣", "C":
		suit = 2
	case "♦", "D":
		suit = 3
	default:
		return 0, false, fmt.Errorf("%w: %q has an unknown suit (want ♠♥♣♦ or S H C D)", ErrParse, t)
	}
	return Card(rank*4 + suit), false, nil
}

// SortCards sorts cs in place by rank (then suit).
func SortCards(cs []Card) { slices.Sort(cs) }
