package doudizhu

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func rankOf(t testing.TB, s string) Rank {
	t.Helper()
	for r, n := range rankNames {
		if n == s {
			return Rank(r)
		}
	}
	t.Fatalf("no rank %q", s)
	return -1
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name    string
		cards   string
		kind    Kind
		rank    string
		length  int
		wantErr string // substring of the error, for illegal sets
	}{
		// single, pair, triple
		{name: "single", cards: "7", kind: Single, rank: "7", length: 1},
		{name: "single joker", cards: "RJ", kind: Single, rank: "RJ", length: 1},
		{name: "pair", cards: "K K", kind: Pair, rank: "K", length: 1},
		{name: "pair of 2s", cards: "2 2", kind: Pair, rank: "2", length: 1},
		{name: "two different cards", cards: "3 4", wantErr: "two cards must be a pair or the rocket"},
		{name: "a joker and a 2", cards: "2 BJ", wantErr: "two cards must be a pair or the rocket"},
		{name: "triple", cards: "9 9 9", kind: Triple, rank: "9", length: 1},
		{name: "not a triple", cards: "9 9 10", wantErr: "no combination"},
		// triple with wings
		{name: "triple+single", cards: "5 5 5 3", kind: TripleSingle, rank: "5", length: 1},
		{name: "triple+joker", cards: "5 5 5 BJ", kind: TripleSingle, rank: "5", length: 1},
		{name: "triple+pair", cards: "5 5 5 2 2", kind: TriplePair, rank: "5", length: 1},
		{name: "triple+two singles", cards: "5 5 5 3 4", wantErr: "a triple takes one single or one pair"},
		{name: "triple+rocket", cards: "5 5 5 BJ RJ", wantErr: "a triple takes one single or one pair"},
		// straights
		{name: "straight of 5", cards: "3 4 5 6 7", kind: Straight, rank: "3", length: 5},
		{name: "straight 10 to A", cards: "10 J Q K A", kind: Straight, rank: "10", length: 5},
		{name: "straight of 12", cards: "3 4 5 6 7 8 9 10 J Q K A", kind: Straight, rank: "3", length: 12},
		{name: "straight unsorted", cards: "7 5 3 6 4", kind: Straight, rank: "3", length: 5},
		{name: "straight of 4", cards: "3 4 5 6", wantErr: "at least 5 cards"},
		{name: "straight with a gap", cards: "3 4 5 6 8", wantErr: "no combination"},
		{name: "straight into 2", cards: "J Q K A 2", wantErr: "2s and jokers cannot be part"},
		{name: "straight wraps", cards: "K A 2 3 4", wantErr: "no combination"},
		{name: "straight with joker", cards: "10 J Q K A 2 BJ", wantErr: "2s and jokers"},
		// pair straights
		{name: "3 pairs", cards: "3 3 4 4 5 5", kind: PairStraight, rank: "3", length: 3},
		{name: "10 pairs", cards: "3 3 4 4 5 5 6 6 7 7 8 8 9 9 10 10 J J Q Q", kind: PairStraight, rank: "3", length: 10},
		{name: "2 pairs", cards: "3 3 4 4", wantErr: "at least 3 pairs"},
		{name: "pairs into 2", cards: "K K A A 2 2", wantErr: "2s and jokers"},
		{name: "pairs with a gap", cards: "3 3 4 4 6 6", wantErr: "no combination"},
		// airplanes
		{name: "airplane", cards: "3 3 3 4 4 4", kind: Airplane, rank: "3", length: 2},
		{name: "airplane KA", cards: "K K K A A A", kind: Airplane, rank: "K", length: 2},
		{name: "airplane into 2", cards: "A A A 2 2 2", wantErr: "2s and jokers"},
		{name: "triples with a gap", cards: "3 3 3 5 5 5", wantErr: "an airplane needs"},
		{name: "airplane+singles", cards: "3 3 3 4 4 4 7 9", kind: AirplaneSingles, rank: "3", length: 2},
		{name: "airplane+single pair", cards: "3 3 3 4 4 4 7 7", kind: AirplaneSingles, rank: "3", length: 2},
		{name: "airplane+2 and joker", cards: "3 3 3 4 4 4 2 BJ", kind: AirplaneSingles, rank: "3", length: 2},
		{name: "airplane+rocket", cards: "3 3 3 4 4 4 BJ RJ", wantErr: "an airplane needs"},
		{name: "airplane+pairs", cards: "8 8 8 9 9 9 3 3 2 2", kind: AirplanePairs, rank: "8", length: 2},
		{name: "airplane3+pairs", cards: "8 8 8 9 9 9 10 10 10 3 3 4 4 5 5", kind: AirplanePairs, rank: "8", length: 3},
		{name: "airplane wrong wing count", cards: "3 3 3 4 4 4 7", wantErr: "an airplane needs"},
		{name: "airplane three singles", cards: "3 3 3 4 4 4 7 8 9", wantErr: "an airplane needs"},
		{name: "airplane pair+single wings", cards: "3 3 3 4 4 4 7 7 9 9 10", wantErr: "an airplane needs"},
		{name: "airplane bomb wings", cards: "3 3 3 4 4 4 7 7 7 7", wantErr: "four of a kind"},
		{name: "airplane splits a bomb", cards: "3 3 3 3 4 4 4 5", wantErr: "four of a kind"},
		{name: "airplane with 2s body", cards: "A A A 2 2 2 3 4", wantErr: "an airplane needs"},
		// four with two
		{name: "four+two singles", cards: "6 6 6 6 3 9", kind: FourTwoSingles, rank: "6", length: 1},
		{name: "four+a pair as singles", cards: "6 6 6 6 3 3", kind: FourTwoSingles, rank: "6", length: 1},
		{name: "four+rocket", cards: "6 6 6 6 BJ RJ", wantErr: "the rocket cannot be a wing"},
		{name: "four+two pairs", cards: "6 6 6 6 3 3 2 2", kind: FourTwoPairs, rank: "6", length: 1},
		{name: "four+one single", cards: "6 6 6 6 3", wantErr: "four of a kind takes exactly two"},
		{name: "two bombs", cards: "6 6 6 6 3 3 3 3", wantErr: "two bombs cannot be played together"},
		{name: "four+pair+single", cards: "6 6 6 6 3 3 4", wantErr: "four of a kind"},
		// bombs
		{name: "bomb", cards: "2 2 2 2", kind: Bomb, rank: "2", length: 1},
		{name: "bomb of 3s", cards: "3 3 3 3", kind: Bomb, rank: "3", length: 1},
		{name: "rocket", cards: "RJ BJ", kind: Rocket, rank: "RJ", length: 1},
		// malformed input
		{name: "empty", cards: "", wantErr: "no cards"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cards := mustParse(t, tt.cards)
			c, err := Classify(cards)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Classify(%s) = %v, want error %q", tt.cards, c, tt.wantErr)
				}
				if !errors.Is(err, ErrIllegal) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Classify(%s) error = %q, want %q", tt.cards, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Classify(%s): %v", tt.cards, err)
			}
			if c.Kind != tt.kind || c.Rank != rankOf(t, tt.rank) || c.Length != tt.length {
				t.Fatalf("Classify(%s) = %v %v ×%d, want %v %v ×%d", tt.cards, c.Kind, c.Rank, c.Length, tt.kind, tt.rank, tt.length)
			}
			if len(c.Cards) != len(cards) {
				t.Fatalf("Combo.Cards has %d cards, want %d", len(c.Cards), len(cards))
			}
		})
	}
}

func TestClassifyBadCards(t *testing.T) {
	tests := []struct {
		cards   []Card
		wantErr string
	}{
		{[]Card{54}, "54 is not a card"},
		{[]Card{3, 255}, "255 is not a card"},
		{[]Card{5, 5}, "card 4♥ given twice"},
		{nil, "no cards"},
	}
	for _, tt := range tests {
		_, err := Classify(tt.cards)
		if err == nil || !errors.Is(err, ErrIllegal) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Classify(%v) error = %v, want %q", tt.cards, err, tt.wantErr)
		}
	}
}

// Ambiguous sets: Classify picks the strongest reading; ClassifyBeating the
// strongest reading that beats the previous play.
func TestClassifyAmbiguous(t *testing.T) {
	cards := mustParse(t, "3 3 3 4 4 4 5 5 5 6 6 6")
	all := ClassifyAll(cards)
	var got []string
	for _, c := range all {
		got = append(got, c.Kind.String()+" "+c.Rank.String()+" "+string(rune('0'+c.Length)))
	}
	want := []string{"airplane+singles 4 3", "airplane 3 4", "airplane+singles 3 3"}
	if !slices.Equal(got, want) {
		t.Fatalf("ClassifyAll = %q, want %q", got, want)
	}
	c, err := Classify(cards)
	if err != nil || c.Kind != AirplaneSingles || c.Rank != 1 || c.Length != 3 {
		t.Fatalf("Classify = %v, %v; want airplane+singles from 4", c, err)
	}

	tests := []struct {
		prev   string
		kind   Kind
		rank   string
		length int
		err    error
	}{
		{prev: "", kind: AirplaneSingles, rank: "4", length: 3},
		// only the 333444555+666 reading is needed, but the strongest that beats wins
		{prev: "3 3 3 4 4 4 5 5 5 7 8 9", kind: AirplaneSingles, rank: "4", length: 3},
		{prev: "4 4 4 5 5 5 6 6 6 7 8 9", err: ErrDoesNotBeat},
		{prev: "8 8 8 9 9 9 10 10 10 J J J", err: ErrDoesNotBeat},
		{prev: "2 2 2 2", err: ErrDoesNotBeat},
		{prev: "7", err: ErrDoesNotBeat},
	}
	for _, tt := range tests {
		var prev Combo
		if tt.prev != "" {
			var err error
			if prev, err = Classify(mustParse(t, tt.prev)); err != nil {
				t.Fatal(err)
			}
		}
		c, err := ClassifyBeating(cards, prev)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("on %q: error %v, want %v", tt.prev, err, tt.err)
			}
			continue
		}
		if err != nil || c.Kind != tt.kind || c.Rank != rankOf(t, tt.rank) || c.Length != tt.length {
			t.Errorf("on %q: %v, %v; want %v %s ×%d", tt.prev, c, err, tt.kind, tt.rank, tt.length)
		}
	}

	// On a plain airplane of four, only the plain-airplane reading can beat.
	low := Combo{Kind: Airplane, Rank: 0, Length: 4}
	hi := mustParse(t, "4 4 4 5 5 5 6 6 6 7 7 7")
	c, err = ClassifyBeating(hi, low)
	if err != nil || c.Kind != Airplane || c.Rank != 1 || c.Length != 4 {
		t.Fatalf("ClassifyBeating(444..777, airplane×4 from 3) = %v, %v", c, err)
	}
	// On an airplane of three with singles from 4, the 555666777+444 reading beats.
	mid := Combo{Kind: AirplaneSingles, Rank: 1, Length: 3}
	c, err = ClassifyBeating(hi, mid)
	if err != nil || c.Kind != AirplaneSingles || c.Rank != 2 || c.Length != 3 {
		t.Fatalf("ClassifyBeating(444..777, airplane+singles×3 from 4) = %v, %v", c, err)
	}
}

func TestBeats(t *testing.T) {
	tests := []struct {
		play, prev string
		want       bool
	}{
		{"4", "3", true},
		{"3", "4", false},
		{"3", "3♥", false}, // equal rank does not beat
		{"2", "A", true},
		{"BJ", "2", true},
		{"RJ", "BJ", true},
		{"4 4", "3", false}, // different kind
		{"4 4", "3 3", true},
		{"4 5 6 7 8", "3 4 5 6 7", true},
		{"4 5 6 7 8 9", "3 4 5 6 7", false}, // different length
		{"3 4 5 6 7 8", "4 5 6 7 8", false},
		{"4 4 4 3", "3 3 3 A", true},
		{"4 4 4 3 3", "3 3 3 A", false},
		{"4 4 4 5 5 5 6 7", "3 3 3 4 4 4 A 2", true},
		{"4 4 4 5 5 5", "3 3 3 4 4 4 A 2", false},
		{"3 3 3 3", "2", true},
		{"3 3 3 3", "3 4 5 6 7 8 9 10 J Q K A", true},
		{"4 4 4 4", "3 3 3 3", true},
		{"3 3 3 3", "4 4 4 4", false},
		{"BJ RJ", "2 2 2 2", true},
		{"2 2 2 2", "BJ RJ", false},
		{"BJ RJ", "3", true},
		{"5 5 5 5 3 4", "4 4 4 4 A 2", true},
		{"5 5 5 5", "4 4 4 4 A 2", true}, // a bomb beats four-with-two
		{"5 5 5 5 3 4", "6", false},
	}
	for _, tt := range tests {
		play, err := Classify(mustParse(t, tt.play))
		if err != nil {
			t.Fatal(err)
		}
		prev, err := Classify(mustParse(t, tt.prev))
		if err != nil {
			t.Fatalf("%s: %v", tt.prev, err)
		}
		if got := Beats(play, prev); got != tt.want {
			t.Errorf("Beats(%s, %s) = %v, want %v", tt.play, tt.prev, got, tt.want)
		}
	}
	if Beats(Combo{}, Combo{Kind: Single}) {
		t.Error("the zero Combo beats a single")
	}
	if !Beats(Combo{Kind: Single}, Combo{}) {
		t.Error("a single does not beat nothing")
	}
}

// ClassifyAs plays the reading the player chose, and only a reading the
// cards have; the choice decides what the next player must beat.
func TestClassifyAs(t *testing.T) {
	cards := mustParse(t, "3 3 3 4 4 4 5 5 5 6 6 6")
	airplane4 := Reading{Kind: Airplane, Rank: 0, Length: 4}
	wings3 := Reading{Kind: AirplaneSingles, Rank: 0, Length: 3} // 333444555 + 6 6 6
	wings4 := Reading{Kind: AirplaneSingles, Rank: 1, Length: 3} // 444555666 + 3 3 3
	combo := func(s string) Combo {
		c, err := Classify(mustParse(t, s))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name string
		want Reading
		prev Combo
		err  error
	}{
		{name: "airplane of four", want: airplane4},
		{name: "three triples from 3 with wings", want: wings3},
		{name: "three triples from 4 with wings", want: wings4},
		{name: "not a reading: triples from 5", want: Reading{Kind: AirplaneSingles, Rank: 2, Length: 3}, err: ErrNoSuchReading},
		{name: "not a reading: pair straight", want: Reading{Kind: PairStraight, Rank: 0, Length: 6}, err: ErrNoSuchReading},
		{name: "airplane beats a lower airplane of four", want: airplane4, prev: Combo{Kind: Airplane, Rank: -1, Length: 4}},
		{name: "the wings reading cannot beat an airplane of four", want: wings4, prev: Combo{Kind: Airplane, Rank: -1, Length: 4}, err: ErrDoesNotBeat},
		{name: "wings from 4 beat wings from 3", want: wings4, prev: combo("3 3 3 4 4 4 5 5 5 7 8 9")},
		{name: "wings from 3 do not", want: wings3, prev: combo("3 3 3 4 4 4 5 5 5 7 8 9"), err: ErrDoesNotBeat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ClassifyAs(cards, tt.want, tt.prev)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || ReadingOf(c) != tt.want {
				t.Fatalf("= %v, %v; want %v", c, err, tt.want)
			}
		})
	}
	if _, err := ClassifyAs(mustParse(t, "3 4"), Reading{Kind: Pair}, Combo{}); !errors.Is(err, ErrIllegal) {
		t.Fatalf("no combination: %v", err)
	}
}
