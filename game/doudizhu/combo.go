package doudizhu

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is the type of a combination.
type Kind int

// The combination kinds. KindNone is the zero value (no combination).
const (
	KindNone        Kind = iota
	Single               // one card
	Pair                 // two of a rank
	Triple               // three of a rank
	TripleSingle         // three of a rank + one other card
	TriplePair           // three of a rank + a pair
	Straight             // 5..12 consecutive single ranks, 3..A
	PairStraight         // 3+ consecutive pairs, 3..A
	Airplane             // 2+ consecutive triples, 3..A
	AirplaneSingles      // airplane + one single wing per triple
	AirplanePairs        // airplane + one pair wing per triple
	FourTwoSingles       // four of a rank + two single cards
	FourTwoPairs         // four of a rank + two pairs
	Bomb                 // four of a rank
	Rocket               // both jokers
)

var kindNames = [...]string{"none", "single", "pair", "triple", "triple+single", "triple+pair",
	"straight", "pair straight", "airplane", "airplane+singles", "airplane+pairs",
	"four+two singles", "four+two pairs", "bomb", "rocket"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindNames[k]
}

// Combo is a classified play.
//
// Rank is the main rank: the rank of the single/pair/triple/four/bomb, and
// for sequences (straights, pair straights, airplanes) the LOWEST rank of the
// sequence. Length is the number of units in a sequence (5 for a five-card
// straight, 3 for 334455, 2 for 333444+57) and 1 for every other kind.
// Cards are the cards played; Classify does not copy them (it aliases its
// argument), so callers that keep a Combo should own the slice.
type Combo struct {
	Kind   Kind
	Rank   Rank
	Length int
	Cards  []Card
}

func (c Combo) String() string {
	if c.Length > 1 {
		return fmt.Sprintf("%s×%d from %s [%s]", c.Kind, c.Length, c.Rank, FormatCards(c.Cards))
	}
	return fmt.Sprintf("%s %s [%s]", c.Kind, c.Rank, FormatCards(c.Cards))
}

// Errors returned by Classify and ClassifyBeating (wrapped with details).
var (
	ErrIllegal     = errors.New("doudizhu: not a legal combination")
	ErrDoesNotBeat = errors.New("doudizhu: does not beat the previous play")
)

// Beats reports whether play may be played on prev: the same kind and length
// with a higher main rank; a bomb beats any non-bomb and a lower bomb; the
// rocket beats everything. A zero prev (KindNone) means nothing to beat, so
// any real combination beats it.
func Beats(play, prev Combo) bool {
	switch play.Kind {
	case KindNone:
		return false
	case Rocket:
		return prev.Kind != Rocket
	case Bomb:
		switch prev.Kind {
		case Rocket:
			return false
		case Bomb:
			return play.Rank > prev.Rank
		}
		return true
	}
	if prev.Kind == KindNone {
		return true
	}
	return play.Kind == prev.Kind && play.Length == prev.Length && play.Rank > prev.Rank
}

// Classify returns the combination formed by cards, or an error (wrapping
// ErrIllegal) that says why they form none.
//
// Some card sets have more than one reading, e.g. 333 444 555 666 is an
// airplane of four triples, or 333444555 with wings 6 6 6, or 444555666
// with wings 3 3 3. Classify returns the strongest reading: highest main rank,
// then the longer sequence, then the later Kind. When a play must beat a
// previous combo use ClassifyBeating, which picks the strongest reading that
// beats it.
//
// Wing rules (a documented choice; house rules differ):
//   - no rank is split between the body and the wings, so 3333 is only a
//     bomb (never 333+3) and 3333 444 555 is no airplane with wings;
//   - wings may not contain a bomb (four of a rank) or the rocket (both
//     jokers), so 5555 6666 and 3333 + BJ RJ are illegal;
//   - single wings may repeat a rank (333444 + 5 5 is legal), pair wings
//     may not (that would be a bomb).
//
// 2s and jokers never take part in a straight, pair straight or airplane
// body (they may be wings). Classify does not allocate unless it fails.
func Classify(cards []Card) (Combo, error) {
	return classify(cards, nil)
}

// ClassifyBeating classifies cards choosing, among their readings, the
// strongest one that beats prev. It fails with ErrIllegal if the cards form
// no combination and with ErrDoesNotBeat if no reading beats prev. A zero
// prev behaves like Classify.
func ClassifyBeating(cards []Card, prev Combo) (Combo, error) {
	if prev.Kind == KindNone {
		return classify(cards, nil)
	}
	return classify(cards, &prev)
}

// ClassifyAll returns every reading of cards (empty if none), strongest
// first. Meant for tests, logs and clients that let a player choose.
func ClassifyAll(cards []Card) []Combo {
	var cnt [NumRanks]uint8
	if err := countCards(cards, &cnt); err != nil {
		return nil
	}
	var rs [maxReadings]reading
	n := readings(&cnt, len(cards), &rs)
	out := make([]Combo, 0, n)
	for _, r := range rs[:n] {
		out = append(out, r.combo(cards))
	}
	// insertion sort, strongest first; n is tiny
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && stronger(out[j], out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Reading names one reading of a card set, for a player who chooses which
// one they play (333444555666: an airplane of four triples, or 444555666 with
// the single wings 3 3 3). It matches the Combo of the same Kind, Rank and
// Length.
type Reading struct {
	Kind   Kind
	Rank   Rank
	Length int
}

// ReadingOf is the reading c was classified with.
func ReadingOf(c Combo) Reading { return Reading{Kind: c.Kind, Rank: c.Rank, Length: c.Length} }

// ErrNoSuchReading: the cards form combinations, but not the one asked for.
var ErrNoSuchReading = errors.New("doudizhu: the cards have no such reading")

// ClassifyAs classifies cards as the reading want, which must beat prev (a
// zero prev: nothing to beat). It fails with ErrIllegal when the cards form
// no combination, ErrNoSuchReading when want is not one of their readings,
// and ErrDoesNotBeat when that reading does not beat prev.
func ClassifyAs(cards []Card, want Reading, prev Combo) (Combo, error) {
	var cnt [NumRanks]uint8
	if err := countCards(cards, &cnt); err != nil {
		return Combo{}, err
	}
	var rs [maxReadings]reading
	n := readings(&cnt, len(cards), &rs)
	if n == 0 {
		return Combo{}, explain(cards, &cnt)
	}
	for _, r := range rs[:n] {
		c := r.combo(cards)
		if ReadingOf(c) != want {
			continue
		}
		if prev.Kind != KindNone && !Beats(c, prev) {
			return Combo{}, fmt.Errorf("%w: %s as %s cannot beat %s %s", ErrDoesNotBeat, FormatCards(cards), want, prev.Kind, prev.Rank)
		}
		return c, nil
	}
	return Combo{}, fmt.Errorf("%w: %s is not %s", ErrNoSuchReading, FormatCards(cards), want)
}

func (r Reading) String() string {
	if r.Length > 1 {
		return fmt.Sprintf("%s×%d from %s", r.Kind, r.Length, r.Rank)
	}
	return fmt.Sprintf("%s %s", r.Kind, r.Rank)
}

// reading is kept tiny: classify zeroes an array of them on every call.
type reading struct {
	kind   uint8
	rank   Rank
	length uint8
}

func (r reading) combo(cards []Card) Combo {
	return Combo{Kind: Kind(r.kind), Rank: r.rank, Length: int(r.length), Cards: cards}
}

// maxReadings bounds the readings of one card set: at most one per airplane
// window (12) plus the plain airplane.
const maxReadings = 16

func stronger(a, b Combo) bool {
	if a.Rank != b.Rank {
		return a.Rank > b.Rank
	}
	if a.Length != b.Length {
		return a.Length > b.Length
	}
	return a.Kind > b.Kind
}

func classify(cards []Card, prev *Combo) (Combo, error) {
	var cnt [NumRanks]uint8
	if err := countCards(cards, &cnt); err != nil {
		return Combo{}, err
	}
	var rs [maxReadings]reading
	n := readings(&cnt, len(cards), &rs)
	if n == 0 {
		return Combo{}, explain(cards, &cnt)
	}
	var best Combo
	for _, r := range rs[:n] {
		c := r.combo(cards)
		if prev != nil && !Beats(c, *prev) {
			continue
		}
		if best.Kind == KindNone || stronger(c, best) {
			best = c
		}
	}
	if best.Kind == KindNone {
		return Combo{}, fmt.Errorf("%w: %s cannot beat %s %s", ErrDoesNotBeat, FormatCards(cards), prev.Kind, prev.Rank)
	}
	return best, nil
}

// countCards fills cnt with the number of cards of each rank, rejecting
// empty input, invalid cards and duplicates.
func countCards(cards []Card, cnt *[NumRanks]uint8) error {
	if len(cards) == 0 {
		return fmt.Errorf("%w: no cards", ErrIllegal)
	}
	var seen uint64
	for _, c := range cards {
		if !c.Valid() {
			return fmt.Errorf("%w: %d is not a card (0..53)", ErrIllegal, uint8(c))
		}
		if seen&(1<<c) != 0 {
			return fmt.Errorf("%w: card %s given twice", ErrIllegal, c)
		}
		seen |= 1 << c
		cnt[c.Rank()]++
	}
	return nil
}

// readings writes every legal reading of a card set with rank counts cnt and
// n cards into out and returns how many there are.
func readings(cnt *[NumRanks]uint8, n int, out *[maxReadings]reading) int {
	k := 0
	add := func(kind Kind, r Rank, length int) {
		if k < maxReadings {
			out[k] = reading{uint8(kind), r, uint8(length)}
			k++
		}
	}
	// Shape of the set: how many ranks have each count, and the span.
	var byCount [5]int
	lo, hi := Rank(-1), Rank(-1)
	var four, three Rank = -1, -1
	for r := Rank(0); r < NumRanks; r++ {
		c := cnt[r]
		if c == 0 {
			continue
		}
		byCount[c]++
		if lo < 0 {
			lo = r
		}
		hi = r
		switch c {
		case 4:
			four = r
		case 3:
			three = r
		}
	}
	distinct := byCount[1] + byCount[2] + byCount[3] + byCount[4]
	rocket := cnt[RankBlackJoker] == 1 && cnt[RankRedJoker] == 1
	consecutive := int(hi-lo)+1 == distinct && hi <= RankAce

	switch n {
	case 1:
		add(Single, lo, 1)
	case 2:
		if byCount[2] == 1 {
			add(Pair, lo, 1)
		} else if rocket {
			add(Rocket, RankRedJoker, 1)
		}
	case 3:
		if byCount[3] == 1 {
			add(Triple, lo, 1)
		}
	case 4:
		if byCount[4] == 1 {
			add(Bomb, lo, 1)
		} else if byCount[3] == 1 {
			add(TripleSingle, three, 1)
		}
	case 5:
		if byCount[3] == 1 && byCount[2] == 1 {
			add(TriplePair, three, 1)
		}
	case 6:
		if byCount[4] == 1 && !rocket {
			add(FourTwoSingles, four, 1)
		}
	case 8:
		if byCount[4] == 1 && byCount[2] == 2 {
			add(FourTwoPairs, four, 1)
		}
	}
	if consecutive {
		switch {
		case byCount[1] == distinct && n >= 5:
			add(Straight, lo, n)
		case byCount[2] == distinct && distinct >= 3:
			add(PairStraight, lo, distinct)
		case byCount[3] == distinct && distinct >= 2:
			add(Airplane, lo, distinct)
		}
	}
	// Airplanes with wings: every window of L consecutive ranks (3..A) that
	// all have exactly three cards is a possible body; the rest are wings.
	if byCount[3] >= 2 {
		if n%4 == 0 && byCount[4] == 0 && !rocket {
			L := n / 4
			for s := Rank(0); int(s)+L-1 <= int(RankAce); s++ {
				if window3(cnt, s, L) {
					add(AirplaneSingles, s, L)
				}
			}
		}
		if n%5 == 0 && byCount[4] == 0 && byCount[1] == 0 {
			L := n / 5
			if byCount[3] == L && byCount[2] == L {
				for s := Rank(0); int(s)+L-1 <= int(RankAce); s++ {
					if window3(cnt, s, L) {
						add(AirplanePairs, s, L)
					}
				}
			}
		}
	}
	return k
}

// window3 reports whether ranks s..s+L-1 all have exactly three cards.
func window3(cnt *[NumRanks]uint8, s Rank, L int) bool {
	if L < 2 {
		return false
	}
	for r := s; r < s+Rank(L); r++ {
		if cnt[r] != 3 {
			return false
		}
	}
	return true
}

// explain builds the reason why cards form no combination. It runs only on
// the error path, so it may allocate.
func explain(cards []Card, cnt *[NumRanks]uint8) error {
	n := len(cards)
	var byCount [5]int
	var runs, hasHigh bool
	distinct := 0
	for r := Rank(0); r < NumRanks; r++ {
		if cnt[r] > 0 {
			byCount[cnt[r]]++
			distinct++
			if r >= RankTwo {
				hasHigh = true
			}
		}
	}
	// Would the cards be a sequence if 2s and jokers were allowed in one?
	lo, hi := Rank(-1), Rank(-1)
	for r := Rank(0); r < NumRanks; r++ {
		if cnt[r] > 0 {
			if lo < 0 {
				lo = r
			}
			hi = r
		}
	}
	runs = int(hi-lo)+1 == distinct
	uniform := byCount[1] == distinct || byCount[2] == distinct || byCount[3] == distinct
	var why string
	switch {
	case n == 2 && distinct == 2:
		why = "two cards must be a pair or the rocket (BJ RJ)"
	case runs && uniform && hasHigh && distinct >= 2 && (byCount[1] != distinct || n >= 5):
		why = "2s and jokers cannot be part of a straight, pair straight or airplane"
	case byCount[1] == distinct && runs && n >= 2 && n < 5:
		why = "a straight needs at least 5 cards"
	case byCount[1] == distinct && n > 12:
		why = "a straight has at most 12 cards (3 to A)"
	case byCount[2] == distinct && runs && distinct == 2:
		why = "a pair straight needs at least 3 pairs"
	case byCount[4] >= 2:
		why = "two bombs cannot be played together (a bomb cannot be a wing)"
	case byCount[4] == 1 && n == 6:
		why = "the rocket cannot be a wing"
	case byCount[4] == 1 && n > 4:
		why = "four of a kind takes exactly two singles or two pairs, and a bomb is never split into a triple and a wing"
	case byCount[3] >= 1 && byCount[4] == 0:
		if n == 4 || n == 5 {
			why = "a triple takes one single or one pair as its wing"
		} else {
			why = "an airplane needs 2+ consecutive triples (3..A), with no wings, one single per triple, or one pair per triple (no bomb or rocket among the wings)"
		}
	default:
		why = "the cards form no combination"
	}
	return fmt.Errorf("%w: %s: %s", ErrIllegal, strings.TrimSpace(FormatCards(cards)), why)
}
