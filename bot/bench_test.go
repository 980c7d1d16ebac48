package bot

import (
	"testing"
	"time"

	"github.com/gamehall/gamehall/game/doudizhu"
)

// BenchmarkChoosePlayLead: a landlord's first lead from a 20-card hand, the
// costliest decision a bot makes (every legal lead is scored).
func BenchmarkChoosePlayLead(b *testing.B) {
	g := doudizhu.NewGame(7, 0)
	s := Situation{Hand: append(g.Hand(0), g.Kitty()...), LastSeat: -1, MySeat: 0, Landlord: 0, CardsLeft: [3]int{20, 17, 17}}
	b.ReportAllocs()
	for b.Loop() {
		ChoosePlay(s)
	}
}

// BenchmarkChoosePlayFollow: answering a single with a 17-card hand.
func BenchmarkChoosePlayFollow(b *testing.B) {
	g := doudizhu.NewGame(7, 0)
	prev, _ := doudizhu.Classify([]doudizhu.Card{20})
	s := Situation{Hand: g.Hand(1), Prev: prev, LastSeat: 0, MySeat: 1, Landlord: 0, CardsLeft: [3]int{19, 17, 17}}
	b.ReportAllocs()
	for b.Loop() {
		ChoosePlay(s)
	}
}

// BenchmarkHistogramRecordParallel: every player records into one histogram.
func BenchmarkHistogramRecordParallel(b *testing.B) {
	var h Histogram
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(0)
		for pb.Next() {
			d += 7 * time.Microsecond
			h.Record(d % (50 * time.Millisecond))
		}
	})
}
