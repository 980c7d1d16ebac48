package doudizhu

import "testing"

func TestSuggestBid(t *testing.T) {
	tests := []struct {
		hand string
		min  int // the bid is at least min and at most max
		max  int
	}{
		{hand: "BJ RJ 2 2 2 2 A A 3 4 5 6 7 9 10 J Q", min: 3, max: 3},
		{hand: "3 3 4 5 6 6 7 8 9 9 10 J J Q K K A", min: 0, max: 0},
		{hand: "RJ 2 2 A A 3 4 5 6 7 8 8 9 9 10 J Q", min: 1, max: 3},
	}
	for _, tt := range tests {
		if got := SuggestBid(mustParse(t, tt.hand)); got < tt.min || got > tt.max {
			t.Errorf("SuggestBid(%s) = %d, want %d..%d", tt.hand, got, tt.min, tt.max)
		}
	}
	g := NewGame(9, 0)
	g.Bid(0, 3)
	if _, err := g.Bid(1, SuggestBidFor(g, 1)); err == nil && g.Phase() == PhaseBidding {
		t.Fatal("a bid after a 3 was accepted")
	}
}

func TestSuggestPlay(t *testing.T) {
	tests := []struct {
		name     string
		landlord int
		hands    [3]string
		moves    []move // played before asking
		seat     int
		want     string // "" = pass
	}{
		{
			name: "lead a straight", landlord: 0,
			hands: [3]string{"3 4 5 6 7 9 9 K", "8 8 8 8 J", "10 10 Q Q"},
			seat:  0, want: "3 4 5 6 7",
		},
		{
			name: "lead the lone low card before pairs", landlord: 0,
			hands: [3]string{"4 6 6 9 9", "8 J", "10 Q"},
			seat:  0, want: "4",
		},
		{
			name: "go out at once", landlord: 0,
			hands: [3]string{"3 3 3 K", "8 J", "10 Q"},
			seat:  0, want: "3 3 3 K",
		},
		{
			name: "follow with the lowest single that keeps pairs and bombs", landlord: 0,
			hands: [3]string{"5 K K K 10", "3 3 6 9 9 2 2 2 2 J", "7 8"},
			moves: []move{{0, "5"}},
			seat:  1, want: "6",
		},
		{
			name: "let the partner's play stand", landlord: 0,
			hands: [3]string{"5 K Q J 10", "6 8 8 9", "7 A 2 4"},
			moves: []move{{0, "5"}, {1, "6"}},
			seat:  2, want: "",
		},
		{
			name: "partner play but can go out", landlord: 0,
			hands: [3]string{"5 K Q J 10", "6 8 8 9", "A"},
			moves: []move{{0, "5"}, {1, "6"}},
			seat:  2, want: "A",
		},
		{
			name: "keep the bomb early", landlord: 0,
			hands: [3]string{"A 3 5 6 8 9 10 J Q K K", "4 4 4 4 5 6 7", "7 8"},
			moves: []move{{0, "A"}},
			seat:  1, want: "",
		},
		{
			name: "bomb when the landlord is nearly out", landlord: 0,
			hands: [3]string{"A 3 K", "4 4 4 4 5 6 7", "7 8"},
			moves: []move{{0, "A"}},
			seat:  1, want: "4 4 4 4",
		},
		{
			name: "the rocket is not split", landlord: 0,
			hands: [3]string{"2 3 4 5 6 8 9 10 J Q K", "BJ RJ 5 6 7 9", "7 8"},
			moves: []move{{0, "2"}},
			seat:  1, want: "",
		},
		{
			name: "landlord beats a farmer", landlord: 0,
			hands: [3]string{"3 6 6 9 K", "8 8 5 5", "7 10 10 J"},
			moves: []move{{0, "3"}, {1, ""}, {2, "7"}},
			seat:  0, want: "9",
		},
		{
			name: "no low single for a farmer on one card", landlord: 1,
			hands: [3]string{"4 4 6 7 9 J Q", "8 K", "10"},
			seat:  1, want: "K",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := rigged(t, tt.landlord, 1, tt.hands)
			playAll(t, g, tt.moves)
			if g.Turn() != tt.seat {
				t.Fatalf("turn %d, want %d", g.Turn(), tt.seat)
			}
			got := SuggestPlay(g, tt.seat)
			if tt.want == "" {
				if got != nil {
					t.Fatalf("SuggestPlay = %s, want a pass", FormatCards(got))
				}
			} else if !sameRanks(got, mustParse(t, tt.want)) {
				t.Fatalf("SuggestPlay = %q, want %q", FormatCards(got), tt.want)
			}
			if _, err := g.Play(tt.seat, got); err != nil {
				t.Fatalf("the suggestion is not legal: %v", err)
			}
		})
	}
	// Not this seat's turn, or bidding: nil.
	g := NewGame(1, 0)
	if SuggestPlay(g, 0) != nil {
		t.Fatal("SuggestPlay during bidding")
	}
}

func sameRanks(a, b []Card) bool {
	return len(a) == len(b) && sigOf(a) == sigOf(b)
}
