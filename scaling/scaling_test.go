package scaling

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// pol: 50 rooms × 400 seats, 80% target → 16,000 players per shard.
func pol() Policy {
	return Policy{MinShards: 1, MaxShards: 10, ShardCapacity: 20000, TargetOccupancyPercent: 80, ScaleDownDelay: 5 * time.Minute}
}

func serving(idx int32, players int64) Shard {
	return Shard{Index: idx, Players: players, Ready: true, Running: true}
}

func draining(idx int32, players int64, started time.Time) Shard {
	return Shard{Index: idx, Players: players, Ready: true, Running: true, Draining: true, DrainStarted: started}
}

func TestDesired(t *testing.T) {
	tests := []struct {
		name      string
		min, max  int32
		players   int64
		want      int32
		wantAbove bool
	}{
		{"no players gives min", 1, 10, 0, 1, false},
		{"zero min with no players", 0, 10, 0, 0, false},
		{"one player needs one shard", 0, 10, 1, 1, false},
		{"exactly at target", 0, 10, 16000, 1, false},
		{"one above target", 0, 10, 16001, 2, false},
		{"near the cap", 0, 10, 159999, 10, false},
		{"at the cap", 0, 10, 160000, 10, false},
		{"above the cap clamps to max", 0, 10, 160001, 10, true},
		{"min wins over small load", 3, 10, 16001, 3, false},
		{"max zero", 0, 0, 5, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pol()
			p.MinShards, p.MaxShards = tc.min, tc.max
			got, above := Desired(p, tc.players)
			if got != tc.want || above != tc.wantAbove {
				t.Errorf("Desired(%d) = %d, %v; want %d, %v", tc.players, got, above, tc.want, tc.wantAbove)
			}
		})
	}
}

// decideCase is one row of Decide's table tests: an input and what the
// decision must be.
type decideCase struct {
	name   string
	policy func(*Policy)
	shards []Shard
	now    time.Time
	since  time.Time
	// blocked is Input.CreateBlocked.
	blocked string

	action    Action
	index     int32
	desired   int32
	limited   bool
	cutOff    int64
	wantSince time.Time
	reasonHas string
}

func TestDecide(t *testing.T) {
	runDecideCases(t, []decideCase{
		{
			name: "empty region creates shard 0 for min", shards: nil,
			action: Create, index: 0, desired: 1, reasonHas: "create shard 0",
		},
		{
			name: "steady state does nothing", shards: []Shard{serving(0, 10000)},
			action: None, desired: 1, reasonHas: "as desired",
		},
		{
			name: "scale up takes the lowest free index", shards: []Shard{serving(0, 16000), serving(2, 16000), serving(3, 16001)},
			action: Create, index: 1, desired: 4, reasonHas: "create shard 1",
		},
		{
			name: "a blocked create does nothing and says why", shards: nil, blocked: "no Hall lists the Region",
			action: None, desired: 1, reasonHas: "0 serve, but no shard can be created: no Hall lists the Region",
		},
		{
			name: "a blocked create still un-drains", shards: []Shard{serving(0, 16000), draining(1, 5000, t0)}, blocked: "no Hall",
			action: Undrain, index: 1, desired: 2, reasonHas: "un-drain shard 1",
		},
		{
			name: "a blocked create still deletes a drained shard that shut down", shards: []Shard{serving(0, 100), {Index: 1, Draining: true, DrainStarted: t0}}, blocked: "no Hall",
			action: Delete, index: 1, desired: 1, reasonHas: "drained and shut down",
		},
		{
			name: "not-ready new shard counts, no double create", shards: []Shard{serving(0, 16001), {Index: 1, Running: true}},
			action: None, desired: 2,
		},
		{
			name: "scale up near the cap", shards: []Shard{serving(0, 16000), serving(1, 16000), serving(2, 16000), serving(3, 16000), serving(4, 16000), serving(5, 16000), serving(6, 16000), serving(7, 16000), serving(8, 16000), serving(9, 1)},
			action: None, desired: 10, limited: false,
		},
		{
			name: "at max above target is limited", shards: []Shard{serving(0, 20000), serving(1, 19000)},
			policy: func(p *Policy) { p.MaxShards = 2 },
			action: None, desired: 2, limited: true, reasonHas: "at max 2 shards",
		},
		{
			name: "at max exactly at target is not limited", shards: []Shard{serving(0, 16000), serving(1, 16000)},
			policy: func(p *Policy) { p.MaxShards = 2 },
			action: None, desired: 2, limited: false,
		},
		{
			name: "below max never limited", shards: []Shard{serving(0, 20000)},
			action: Create, index: 1, desired: 2, limited: false,
		},
		{
			name: "max zero creates nothing", shards: nil,
			policy: func(p *Policy) { p.MinShards, p.MaxShards = 0, 0 },
			action: None, desired: 0, limited: false,
		},
		{
			name: "low load starts the hysteresis clock", shards: []Shard{serving(0, 100), serving(1, 100)}, now: t0,
			action: None, desired: 1, wantSince: t0, reasonHas: "waiting 5m0s more",
		},
		{
			name: "low load within the delay waits", shards: []Shard{serving(0, 100), serving(1, 100)},
			now: t0.Add(4 * time.Minute), since: t0,
			action: None, desired: 1, wantSince: t0, reasonHas: "waiting 1m0s more",
		},
		{
			name: "after the delay drains the emptiest, ties to highest index", shards: []Shard{serving(0, 100), serving(1, 5), serving(2, 5)},
			now: t0.Add(5 * time.Minute), since: t0,
			action: Drain, index: 2, desired: 1, reasonHas: "drain shard 2",
		},
		{
			name: "drain picks the emptiest", shards: []Shard{serving(0, 3), serving(1, 100), serving(2, 5)},
			now: t0.Add(time.Hour), since: t0,
			action: Drain, index: 0, desired: 1,
		},
		{
			name: "load back above threshold resets the clock", shards: []Shard{serving(0, 16000), serving(1, 100)},
			now: t0.Add(time.Hour), since: t0,
			action: None, desired: 2,
		},
		{
			name: "min is kept", shards: []Shard{serving(0, 0), serving(1, 0)},
			policy: func(p *Policy) { p.MinShards = 2 },
			now:    t0.Add(time.Hour), since: t0,
			action: None, desired: 2,
		},
		{
			name: "min zero drains the last shard", shards: []Shard{serving(0, 0)},
			policy: func(p *Policy) { p.MinShards = 0 },
			now:    t0.Add(time.Hour), since: t0,
			action: Drain, index: 0, desired: 0,
		},
		{
			name: "draining shards do not count as capacity", shards: []Shard{serving(0, 15000), draining(1, 2000, t0)},
			now:    t0,
			action: Undrain, index: 1, desired: 2, reasonHas: "17000 players need 2 shards, 1 serve",
		},
		{
			name: "un-drain before create", shards: []Shard{serving(0, 16000), draining(1, 500, t0)},
			now:    t0,
			action: Undrain, index: 1, desired: 2, reasonHas: "un-drain shard 1",
		},
		{
			name: "un-drain picks the fullest draining shard", shards: []Shard{serving(0, 16000), draining(1, 10, t0), draining(2, 900, t0), draining(3, 900, t0)},
			now:    t0,
			action: Undrain, index: 2, desired: 2,
		},
		{
			name: "un-drain even an empty running shard before deleting it", shards: []Shard{serving(0, 17000), draining(1, 0, t0)},
			now:    t0,
			action: Undrain, index: 1, desired: 2,
		},
		{
			name: "a draining shard that no longer runs is not un-drained but deleted", shards: []Shard{serving(0, 17000), {Index: 1, Players: 30, Draining: true, DrainStarted: t0}},
			now:    t0,
			action: Delete, index: 1, desired: 2, cutOff: 0, reasonHas: "no longer runs",
		},
		{
			// Its count may be seconds old and a player may be entering now:
			// only the game server can tell, by shutting down once empty.
			name: "a running draining shard reporting 0 players is not deleted", shards: []Shard{serving(0, 100), draining(1, 0, t0)},
			now:    t0.Add(time.Minute),
			action: None, desired: 1,
		},
		{
			name: "a drained shard whose game server shut down is deleted", shards: []Shard{serving(0, 100), {Index: 1, Draining: true, DrainStarted: t0}},
			now:    t0.Add(time.Minute),
			action: Delete, index: 1, desired: 1, reasonHas: "drained and shut down",
		},
		{
			name: "an occupied drained shard is never deleted without timeout", shards: []Shard{serving(0, 100), draining(1, 1, t0)},
			now:    t0.Add(1000 * time.Hour),
			action: None, desired: 1,
		},
		{
			name: "drain timeout not yet expired keeps the shard", shards: []Shard{serving(0, 100), draining(1, 7, t0)},
			policy: func(p *Policy) { p.DrainTimeout = time.Hour },
			now:    t0.Add(59 * time.Minute),
			action: None, desired: 1,
		},
		{
			name: "drain timeout expired deletes and tells who is cut off", shards: []Shard{serving(0, 100), draining(1, 7, t0)},
			policy: func(p *Policy) { p.DrainTimeout = time.Hour },
			now:    t0.Add(time.Hour),
			action: Delete, index: 1, desired: 1, cutOff: 7, reasonHas: "cutting them off",
		},
		{
			name: "drain timeout with unknown start never expires", shards: []Shard{serving(0, 100), draining(1, 7, time.Time{})},
			policy: func(p *Policy) { p.DrainTimeout = time.Hour },
			now:    t0.Add(time.Hour),
			action: None, desired: 1,
		},
		{
			name: "shut-down draining deleted before the timed out one", shards: []Shard{serving(0, 100), draining(1, 7, t0), {Index: 2, Draining: true, DrainStarted: t0.Add(50 * time.Minute)}},
			policy: func(p *Policy) { p.DrainTimeout = time.Hour },
			now:    t0.Add(2 * time.Hour),
			action: Delete, index: 2, desired: 1, cutOff: 0,
		},
		{
			name: "drain and scale-down proceed while another shard drains", shards: []Shard{serving(0, 0), serving(1, 0), draining(2, 3, t0)},
			now: t0.Add(time.Hour), since: t0,
			action: Drain, index: 1, desired: 1,
		},
		{
			name: "draining players count toward desired, so no drain loop", shards: []Shard{serving(0, 10000), draining(1, 10000, t0)},
			now:    t0,
			action: Undrain, index: 1, desired: 2,
		},
	})
}

// runDecideCases runs each case through Decide and checks its decision.
func runDecideCases(t *testing.T, tests []decideCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pol()
			if tc.policy != nil {
				tc.policy(&p)
			}
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			d, err := Decide(Input{Policy: p, Shards: tc.shards, Now: now, BelowSince: tc.since, CreateBlocked: tc.blocked})
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Action != tc.action || (tc.action != None && d.Index != tc.index) {
				t.Errorf("action = %s %d, want %s %d (reason %q)", d.Action, d.Index, tc.action, tc.index, d.Reason)
			}
			if d.Desired != tc.desired {
				t.Errorf("desired = %d, want %d", d.Desired, tc.desired)
			}
			var wantCap int64
			for _, s := range tc.shards {
				if !s.Draining {
					wantCap += p.ShardCapacity
				}
			}
			if d.Capacity != wantCap {
				t.Errorf("capacity = %d, want %d (serving shards only)", d.Capacity, wantCap)
			}
			if d.Limited != tc.limited {
				t.Errorf("limited = %v, want %v", d.Limited, tc.limited)
			}
			if d.CutOff != tc.cutOff {
				t.Errorf("cutOff = %d, want %d", d.CutOff, tc.cutOff)
			}
			if !d.BelowSince.Equal(tc.wantSince) {
				t.Errorf("belowSince = %v, want %v", d.BelowSince, tc.wantSince)
			}
			if !strings.Contains(d.Reason, tc.reasonHas) {
				t.Errorf("reason %q does not contain %q", d.Reason, tc.reasonHas)
			}
		})
	}
}

// A whole scale-up and scale-down run, applying each decision as the operator
// would: the region reaches the desired count one step at a time and drains
// one shard per delay period back to the minimum.
func TestDecideConverges(t *testing.T) {
	p := pol()
	var shards []Shard
	now := t0
	var below time.Time
	apply := func(d Decision) {
		switch d.Action {
		case Create:
			shards = append(shards, Shard{Index: d.Index, Running: true})
		case Drain, Undrain:
			for i := range shards {
				if shards[i].Index == d.Index {
					shards[i].Draining = d.Action == Drain
					shards[i].DrainStarted = now
				}
			}
		case None:
			// A draining game server with nobody on it shuts itself down.
			for i := range shards {
				if shards[i].Draining && shards[i].Players == 0 {
					shards[i].Running = false
				}
			}
		case Delete:
			for i := range shards {
				if shards[i].Index == d.Index {
					shards = append(shards[:i], shards[i+1:]...)
					break
				}
			}
		}
	}
	step := func() Decision {
		d, err := Decide(Input{Policy: p, Shards: shards, Now: now, BelowSince: below})
		if err != nil {
			t.Fatal(err)
		}
		below = d.BelowSince
		apply(d)
		return d
	}
	for i := 0; i < 20; i++ {
		step()
	}
	if len(shards) != 1 {
		t.Fatalf("with no players: %d shards, want min 1", len(shards))
	}
	// 100,000 players spread over what exists: needs 7 shards.
	spread := func(total int64) {
		var serving []int
		for i := range shards {
			shards[i].Players = 0
			if !shards[i].Draining {
				serving = append(serving, i)
			}
		}
		for n, i := range serving {
			shards[i].Players = total / int64(len(serving))
			if n == 0 {
				shards[i].Players += total % int64(len(serving))
			}
		}
	}
	for i := 0; i < 20; i++ {
		spread(100000)
		step()
	}
	if len(shards) != 7 {
		t.Fatalf("100,000 players: %d shards, want 7", len(shards))
	}
	// Everyone leaves: one drain per 5 minutes, deleted once shut down empty.
	drains := 0
	for i := 0; i < 200; i++ {
		spread(0)
		if d := step(); d.Action == Drain {
			drains++
		}
		now = now.Add(time.Minute)
	}
	if len(shards) != 1 || shards[0].Draining {
		t.Fatalf("after the load left: %+v, want one serving shard", shards)
	}
	if drains != 6 {
		t.Errorf("drains = %d, want 6", drains)
	}
}

func TestDecideRejectsBadInput(t *testing.T) {
	tests := []struct {
		name    string
		policy  func(*Policy)
		shards  []Shard
		wantErr string
	}{
		{"negative min", func(p *Policy) { p.MinShards = -1 }, nil, "minShards -1 is negative"},
		{"max below min", func(p *Policy) { p.MinShards, p.MaxShards = 5, 4 }, nil, "maxShards 4 is below minShards 5"},
		{"zero capacity", func(p *Policy) { p.ShardCapacity = 0 }, nil, "shard capacity 0 must be positive"},
		{"target zero", func(p *Policy) { p.TargetOccupancyPercent = 0 }, nil, "targetOccupancyPercent 0 is outside 1..100"},
		{"target above 100", func(p *Policy) { p.TargetOccupancyPercent = 101 }, nil, "targetOccupancyPercent 101"},
		{"negative delay", func(p *Policy) { p.ScaleDownDelay = -time.Second }, nil, "scaleDownDelay -1s is negative"},
		{"negative drain timeout", func(p *Policy) { p.DrainTimeout = -time.Second }, nil, "drainTimeout -1s is negative"},
		{"negative max surge", func(p *Policy) { p.MaxSurge = -1 }, nil, "maxSurge -1 is negative"},
		{"duplicate index", nil, []Shard{serving(1, 0), serving(1, 0)}, "shard index 1 appears twice"},
		{"negative index", nil, []Shard{serving(-1, 0)}, "shard index -1 is negative"},
		{"negative players", nil, []Shard{serving(0, -3)}, "shard 0 reports -3 players"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pol()
			if tc.policy != nil {
				tc.policy(&p)
			}
			d, err := Decide(Input{Policy: p, Shards: tc.shards, Now: t0})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if d.Action != None {
				t.Errorf("bad input decided %s", d.Action)
			}
		})
	}
}

func TestReplacementBackoff(t *testing.T) {
	base, limit := 5*time.Second, 5*time.Minute
	tests := []struct {
		failures int32
		want     time.Duration
	}{
		{0, 0},
		{-1, 0},
		{1, 5 * time.Second},
		{2, 10 * time.Second},
		{3, 20 * time.Second},
		{6, 160 * time.Second},
		{7, 5 * time.Minute},
		{8, 5 * time.Minute},
		{1 << 30, 5 * time.Minute},
	}
	for _, tc := range tests {
		if got := ReplacementBackoff(tc.failures, base, limit); got != tc.want {
			t.Errorf("ReplacementBackoff(%d) = %s, want %s", tc.failures, got, tc.want)
		}
	}
	if got := ReplacementBackoff(3, time.Minute, 30*time.Second); got != 30*time.Second {
		t.Errorf("cap below base: %s, want the cap", got)
	}
	if got := ReplacementBackoff(3, time.Second, 0); got != 0 {
		t.Errorf("no cap given: %s, want 0", got)
	}
}

// BenchmarkDecide1000 is one policy evaluation of a 1,000-shard Region, as the
// operator makes on every Region reconcile.
func BenchmarkDecide1000(b *testing.B) {
	p := pol()
	p.MaxShards = 1000
	shards := make([]Shard, 1000)
	for i := range shards {
		shards[i] = serving(int32(i), int64(8000+i%5000))
	}
	shards[7].Draining = true
	in := Input{Policy: p, Shards: shards, Now: t0, BelowSince: t0}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decide(in); err != nil {
			b.Fatal(err)
		}
	}
}
