package doudizhu

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCardRankAndString(t *testing.T) {
	tests := []struct {
		c    Card
		rank Rank
		str  string
	}{
		{0, RankThree, "3♠"},
		{1, RankThree, "3♥"},
		{31, RankTen, "10♦"},
		{29, RankTen, "10♥"},
		{32, 8, "J♠"},
		{44, RankAce, "A♠"},
		{51, RankTwo, "2♦"},
		{BlackJoker, RankBlackJoker, "BJ"},
		{RedJoker, RankRedJoker, "RJ"},
	}
	for _, tt := range tests {
		if got := tt.c.Rank(); got != tt.rank {
			t.Errorf("Card(%d).Rank() = %v, want %v", tt.c, got, tt.rank)
		}
		if got := tt.c.String(); got != tt.str {
			t.Errorf("Card(%d).String() = %q, want %q", tt.c, got, tt.str)
		}
	}
	if s := Card(60).String(); s != "?60" {
		t.Errorf("invalid card prints %q", s)
	}
}

func TestParseFormatRoundTrip(t *testing.T) {
	all := make([]Card, DeckSize)
	for i := range all {
		all[i] = Card(i)
	}
	got, err := ParseCards(FormatCards(all))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, all) {
		t.Fatalf("round trip of the deck: got %v", got)
	}
	// Order is kept.
	rev := slices.Clone(all)
	slices.Reverse(rev)
	got, err = ParseCards(FormatCards(rev))
	if err != nil || !slices.Equal(got, rev) {
		t.Fatalf("round trip of the reversed deck: %v %v", got, err)
	}
}

func TestParseCards(t *testing.T) {
	tests := []struct {
		in      string
		want    string // FormatCards of the result
		wantErr string // substring
	}{
		{in: "", want: ""},
		{in: "3♠ 10♥ bj RJ", want: "3♠ 10♥ BJ RJ"},
		{in: "3s,th, qd 2C", want: "3♠ 10♥ Q♦ 2♣"},
		{in: "3 3 3 4", want: "3♠ 3♥ 3♣ 4♠"},
		{in: "3 3♠", want: "3♥ 3♠"}, // bare ranks avoid suits named elsewhere
		{in: "a k q j 10 9 8 7 6 5 4 3 2", want: "A♠ K♠ Q♠ J♠ 10♠ 9♠ 8♠ 7♠ 6♠ 5♠ 4♠ 3♠ 2♠"},
		{in: "3♠ 3♠", wantErr: "duplicate card 3♠"},
		{in: "3 3 3 3 3", wantErr: "more than four cards of rank 3"},
		{in: "1♠", wantErr: `"1♠" is not a card`},
		{in: "3x", wantErr: `"3x" has an unknown suit`},
		{in: "11", wantErr: `"11" is not a card`},
		{in: "joker", wantErr: `"joker" has an unknown suit`},
	}
	for _, tt := range tests {
		got, err := ParseCards(tt.in)
		if tt.wantErr != "" {
			if err == nil || !errors.Is(err, ErrParse) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseCards(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseCards(%q): %v", tt.in, err)
			continue
		}
		if s := FormatCards(got); s != tt.want {
			t.Errorf("ParseCards(%q) = %q, want %q", tt.in, s, tt.want)
		}
	}
}

// mustParse is for test tables.
func mustParse(t testing.TB, s string) []Card {
	t.Helper()
	cs, err := ParseCards(s)
	if err != nil {
		t.Fatalf("ParseCards(%q): %v", s, err)
	}
	return cs
}
