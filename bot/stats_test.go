package bot

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gamehall/gamehall/hall"
)

func TestHistogramQuantiles(t *testing.T) {
	cases := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one value", []time.Duration{3 * time.Millisecond}, 0.99, 3 * time.Millisecond},
		{"sub-32µs exact", []time.Duration{5 * time.Microsecond, 7 * time.Microsecond, 9 * time.Microsecond}, 0.5, 7 * time.Microsecond},
		{"median of 1..1000ms", seq(1000, time.Millisecond), 0.5, 500 * time.Millisecond},
		{"p99 of 1..1000ms", seq(1000, time.Millisecond), 0.99, 990 * time.Millisecond},
		{"max bounds the top", seq(10, time.Second), 1, 10 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tc.values {
				h.Record(v)
			}
			got := h.Quantile(tc.q)
			// Buckets keep values within 1/32.
			if diff := got - tc.want; diff < -tc.want/30 || diff > tc.want/30 {
				t.Fatalf("q%.2f = %s, want %s ±3%%", tc.q, got, tc.want)
			}
			if h.Count() != uint64(len(tc.values)) {
				t.Fatalf("count %d, want %d", h.Count(), len(tc.values))
			}
		})
	}
}

func seq(n int, unit time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * unit
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func TestBucketsAreMonotonic(t *testing.T) {
	prev := -1
	for us := uint64(0); us < 1<<22; us += 1 + us/64 {
		b := bucketOf(us)
		if b < prev {
			t.Fatalf("bucket of %dµs is %d, below the previous %d", us, b, prev)
		}
		if mid := bucketMid(b); mid < float64(us)*0.96 || mid > float64(us)*1.04+1 {
			t.Fatalf("bucket %d of %dµs has middle %.0f", b, us, mid)
		}
		prev = b
	}
}

func TestStatsSummary(t *testing.T) {
	s := NewStats()
	s.Entries.Add(97)
	s.EntryFailures.Add(3)
	s.RoomFull.Add(3)
	s.Games.Add(10)
	s.ZeroSum.Add(10)
	s.MoveDelivery.Record(2 * time.Millisecond)
	s.ProtocolError("move: ILLEGAL_MOVE")
	s.ProtocolError("move: ILLEGAL_MOVE")
	if got := s.RoomFullRate(); got != 0.03 {
		t.Fatalf("room full rate %v, want 0.03", got)
	}
	sum := s.Summary()
	for _, want := range []string{"ROOM_FULL 3 (3.00% of attempts)", "games finished   10", "move delivery", "2.0ms", "protocol errors  2", "move: ILLEGAL_MOVE: 2"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	if p := s.Progress(); !strings.Contains(p, "entry failures 3 (room full 3)") || !strings.Contains(p, "errors 2") {
		t.Errorf("progress line %q", p)
	}
}

func TestChooseRoom(t *testing.T) {
	room := func(n, players int) hall.Room {
		return hall.Room{Room: n, Players: players, Capacity: 100, Address: "a", Port: 1}
	}
	cases := []struct {
		name    string
		rooms   []hall.Room
		tried   map[int]bool
		allowed []int // rooms it may pick
		none    bool
		seats   int
	}{
		{"fresh shard: the two lowest empty rooms", []hall.Room{room(3, 0), room(1, 0), room(2, 0)}, nil, []int{1, 2}, false, 0},
		{"never a nearly full room", []hall.Room{room(1, 96), room(2, 39), room(3, 51), room(4, 87), room(5, 0), room(6, 0), room(7, 0)}, nil, []int{2, 3, 5, 6}, false, 0},
		{"tried rooms are skipped, empty ones too", []hall.Room{room(1, 0), room(2, 39), room(3, 0), room(4, 0)}, map[int]bool{1: true}, []int{2, 3, 4}, false, 0},
		{"skips rooms already tried", []hall.Room{room(1, 39), room(2, 39), room(3, 39), room(4, 39)}, map[int]bool{1: true, 2: true}, []int{3, 4}, false, 0},
		{"all nearly full: any room with a seat", []hall.Room{room(1, 100), room(2, 95), room(3, 99)}, nil, []int{2, 3}, false, 0},
		{"all full: none", []hall.Room{room(1, 100), room(2, 100)}, nil, nil, true, 0},
		{"empty directory: none", nil, nil, nil, true, 0},
		{"rooms with more people than seats count as full at the seats", []hall.Room{room(1, 72), room(2, 39), room(3, 60)}, nil, []int{2, 3}, false, 75},
		{"a table waits for partners: its rooms first", []hall.Room{room(1, 3), room(2, 4), room(3, 0), room(4, 0), room(5, 20)}, nil, []int{2, 5}, false, 0},
		{"a nearly full room is no table waiting", []hall.Room{room(1, 3), room(2, 86), room(3, 0), room(4, 0)}, nil, []int{1, 3, 4}, false, 0},
		{"a tried room is no table waiting", []hall.Room{room(1, 3), room(2, 4), room(3, 0), room(4, 0)}, map[int]bool{2: true}, []int{1, 3, 4}, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			seen := map[int]bool{}
			for i := 0; i < 200; i++ {
				r, ok := chooseRoom(tc.rooms, tc.tried, tc.seats, rng)
				if tc.none {
					if ok {
						t.Fatalf("chose room %d; want none", r.Room)
					}
					return
				}
				if !ok {
					t.Fatal("chose no room")
				}
				seen[r.Room] = true
			}
			for n := range seen {
				ok := false
				for _, a := range tc.allowed {
					ok = ok || a == n
				}
				if !ok {
					t.Fatalf("chose room %d; allowed %v", n, tc.allowed)
				}
			}
			if len(seen) != len(tc.allowed) {
				t.Fatalf("over 200 choices saw rooms %v; want each of %v (some randomness)", seen, tc.allowed)
			}
		})
	}
}

// TestFewPlayersMakeTables: players arriving one by one, each seeing the
// rooms as the previous ones left them, end up at full tables only: nobody
// opens a room while a table elsewhere waits for partners. (Spread over
// rooms one or two at a time, the e2e's six North players played no game.)
func TestFewPlayersMakeTables(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 3))
		rooms := make([]hall.Room, 50)
		for i := range rooms {
			rooms[i] = hall.Room{Room: i + 1, Capacity: 400, Address: "a", Port: 1}
		}
		for _, players := range []int{3, 6, 9, 12} {
			for range 3 {
				r, ok := chooseRoom(rooms, nil, 0, rng)
				if !ok {
					t.Fatalf("seed %d: no room", seed)
				}
				rooms[r.Room-1].Players++
			}
			for _, r := range rooms {
				if r.Players%3 != 0 {
					t.Fatalf("seed %d, %d players: room %d has %d (a table short of players)", seed, players, r.Room, r.Players)
				}
			}
		}
	}
}

// A small run prints each player's balance; a forgotten one (a game it did
// not see end) is neither listed nor counted.
func TestSummaryBalances(t *testing.T) {
	s := NewStats()
	s.Balance("south", "ann", 1012)
	s.Balance("north", "ann", 994)
	s.Balance("south", "bob", 990)
	s.Balance("south", "cat", 1003)
	s.ForgetBalance("south", "cat")
	sum := s.Summary()
	for _, want := range []string{"3 players in 2 regions: total 2996 coins", "    ann in north: 994 coins\n    ann in south: 1012 coins\n    bob in south: 990 coins\n"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	if strings.Contains(sum, "cat in") {
		t.Errorf("a forgotten balance is listed:\n%s", sum)
	}
	for i := range listBalances {
		s.Balance("east", fmt.Sprint("p", i), 1000)
	}
	if sum := s.Summary(); strings.Contains(sum, "ann in north") {
		t.Errorf("a run of %d balances lists them:\n%s", listBalances+3, sum)
	}
}
