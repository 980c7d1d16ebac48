package scaling

import (
	"fmt"
	"testing"
	"time"
)

// outdated is a serving shard on an out-of-date template.
func outdated(idx int32, players int64) Shard {
	s := serving(idx, players)
	s.Outdated = true
	return s
}

// Upgrades: outdated shards are replaced, new ones first within maxSurge,
// old ones drained only when the ready shards left make the desired count.
func TestDecideUpgrade(t *testing.T) {
	runDecideCases(t, []decideCase{
		{
			name: "upgrade: an outdated shard gets its replacement first", shards: []Shard{outdated(0, 100)},
			action: Create, index: 1, desired: 1, reasonHas: "1 of 1 serving shards on an out-of-date template; 1 serve for 1 desired, maxSurge 1: create shard 1",
		},
		{
			name: "upgrade: the surge waits for the new shard to be ready", shards: []Shard{outdated(0, 100), {Index: 1, Running: true}},
			action: None, desired: 1, wantSince: t0, reasonHas: "waiting for the new shards to be ready",
		},
		{
			name: "upgrade: the new shard is ready, the outdated one drains", shards: []Shard{outdated(0, 100), serving(1, 0)},
			action: Drain, index: 0, desired: 1, wantSince: t0, reasonHas: "1 ready shards stay for 1 desired: drain outdated shard 0 (100 players)",
		},
		{
			name: "upgrade: maxSurge 2 adds two shards before draining", shards: []Shard{outdated(0, 16000), outdated(1, 16000), {Index: 2, Running: true}},
			policy: func(p *Policy) { p.MaxSurge = 2 },
			action: Create, index: 3, desired: 2, wantSince: t0, reasonHas: "maxSurge 2: create shard 3",
		},
		{
			name: "upgrade: maxSurge bounds the new shards", shards: []Shard{outdated(0, 16000), outdated(1, 16000), {Index: 2, Running: true}, {Index: 3, Running: true}},
			policy: func(p *Policy) { p.MaxSurge = 2 },
			action: None, desired: 2, wantSince: t0, reasonHas: "(maxSurge 2): waiting",
		},
		{
			name: "upgrade: an outdated shard that is not ready drains before a ready one", shards: []Shard{outdated(0, 0), {Index: 1, Running: true, Outdated: true}, serving(2, 0)},
			action: Drain, index: 1, desired: 1, wantSince: t0,
		},
		{
			name: "upgrade: the emptiest outdated shard drains first", shards: []Shard{outdated(0, 900), outdated(1, 20), serving(2, 10), serving(3, 10)},
			policy: func(p *Policy) { p.MinShards = 3 },
			action: Drain, index: 1, desired: 3, wantSince: t0,
		},
		{
			name: "upgrade: no drain while it would leave fewer ready shards than desired", shards: []Shard{outdated(0, 16000), outdated(1, 16000)},
			action: Create, index: 2, desired: 2, reasonHas: "2 of 2 serving shards on an out-of-date template; 2 serve for 2 desired, maxSurge 1: create shard 2",
		},
		{
			name: "upgrade: a shard with players drains once the ready ones left make desired", shards: []Shard{outdated(0, 16000), outdated(1, 16000), serving(2, 0)},
			action: Drain, index: 1, desired: 2, wantSince: t0, reasonHas: "2 ready shards stay for 2 desired: drain outdated shard 1 (16000 players)",
		},
		{
			name: "upgrade: scaling up comes first", shards: []Shard{outdated(0, 17000)},
			action: Create, index: 1, desired: 2, reasonHas: "17000 players need 2 shards",
		},
		{
			name: "upgrade: an outdated draining shard is not un-drained, a new shard is created", shards: []Shard{serving(0, 16000), {Index: 1, Players: 500, Ready: true, Running: true, Draining: true, DrainStarted: t0, Outdated: true}},
			action: Create, index: 2, desired: 2, reasonHas: "create shard 2",
		},
		{
			name: "upgrade: with creation blocked an outdated draining shard is un-drained", shards: []Shard{serving(0, 16000), {Index: 1, Players: 500, Ready: true, Running: true, Draining: true, DrainStarted: t0, Outdated: true}},
			blocked: "no Hall", action: Undrain, index: 1, desired: 2,
		},
		{
			name: "upgrade: with creation blocked the surge waits and nothing drains", shards: []Shard{outdated(0, 100)},
			blocked: "no Hall", action: None, desired: 1, reasonHas: "but no shard can be created: no Hall",
		},
		{
			name: "upgrade: done when only draining shards are outdated", shards: []Shard{serving(1, 100), {Index: 0, Players: 5, Ready: true, Running: true, Draining: true, DrainStarted: t0, Outdated: true}},
			action: None, desired: 1, reasonHas: "as desired",
		},
	})
}

// An upgrade under load, applying each decision as the operator would: new
// shards start (ready one step later), drained players leave over a few
// steps and the empty game server shuts down. All along the ready serving
// shards make the desired count, at most maxSurge shards serve above it, and
// no shard is deleted while its game server runs. It ends with every shard on
// the new template.
func TestDecideUpgradeConverges(t *testing.T) {
	for _, surge := range []int32{1, 2} {
		t.Run(fmt.Sprintf("maxSurge %d", surge), func(t *testing.T) {
			p := pol()
			p.MaxSurge = surge
			const total = 40000 // 3 shards at 80%
			shards := []Shard{outdated(0, 0), outdated(1, 0), outdated(2, 0)}
			now := t0
			var below time.Time
			spread := func() {
				left := int64(total)
				var ready []int
				for i, s := range shards {
					if s.Draining {
						left -= s.Players
					} else if s.Ready {
						ready = append(ready, i)
					}
				}
				for n, i := range ready {
					shards[i].Players = left / int64(len(ready))
					if n == 0 {
						shards[i].Players += left % int64(len(ready))
					}
				}
			}
			spread()
			for step := 0; step < 100; step++ {
				d, err := Decide(Input{Policy: p, Shards: shards, Now: now, BelowSince: below})
				if err != nil {
					t.Fatal(err)
				}
				below = d.BelowSince
				var ready, serving int32
				for _, s := range shards {
					if !s.Draining {
						serving++
						if s.Ready {
							ready++
						}
					}
				}
				if ready < d.Desired {
					t.Fatalf("step %d: %d ready serving shards for %d desired: %+v", step, ready, d.Desired, shards)
				}
				if serving > d.Desired+surge {
					t.Fatalf("step %d: %d serving shards, above %d desired + maxSurge %d", step, serving, d.Desired, surge)
				}
				// The world moves: starting shards become ready, drained
				// players leave, empty draining game servers shut down.
				for i := range shards {
					s := &shards[i]
					switch {
					case s.Draining && s.Players == 0:
						s.Running = false
					case s.Draining:
						s.Players /= 2
					case s.Running && !s.Ready:
						s.Ready = true
					}
				}
				switch d.Action {
				case Create:
					shards = append(shards, Shard{Index: d.Index, Running: true})
				case Drain:
					for i := range shards {
						if shards[i].Index == d.Index {
							shards[i].Draining, shards[i].DrainStarted = true, now
						}
					}
				case Delete:
					for i := range shards {
						if shards[i].Index == d.Index {
							if shards[i].Running {
								t.Fatalf("step %d: deleted shard %d while its game server runs", step, d.Index)
							}
							shards = append(shards[:i], shards[i+1:]...)
							break
						}
					}
				case Undrain:
					t.Fatalf("step %d: un-drained shard %d at steady load", step, d.Index)
				}
				spread()
				now = now.Add(time.Second)
			}
			if len(shards) != 3 {
				t.Fatalf("after the upgrade: %d shards, want 3: %+v", len(shards), shards)
			}
			for _, s := range shards {
				if s.Outdated || s.Draining || !s.Ready {
					t.Errorf("after the upgrade: %+v, want every shard new, serving and ready", s)
				}
			}
		})
	}
}
