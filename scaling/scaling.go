// Package scaling is the shard scaling policy of a Region, as one pure
// function shared by the operator (controllers/region_controller.go) and
// `gamehall local`. It reads observations and returns one decision; it does no
// I/O and keeps no state, so the callers persist the only memory it needs (when
// load first dropped below the scale-down threshold) and pass it back in.
//
// The rules (DESIGN.md, "Scaling"):
//   - desired = ceil(players / (shard capacity × target occupancy)), clamped to [min, max];
//   - draining shards do not count as capacity;
//   - load arriving while a shard drains un-drains it (if it still runs) before any create;
//   - scale up takes the lowest free index;
//   - scale down only after the delay, by marking the emptiest non-draining shard
//     draining (ties: the highest index), one shard per delay period;
//   - a draining shard is deleted once its game server is gone — it confirmed
//     the drain, emptied and shut itself down (the Agones way), or it failed —
//     or once its drain timeout (if set) expired. A player count never deletes
//     a running shard: it may be seconds old, and a player who entered before
//     the shard saw the drain would be cut.
package scaling

import (
	"errors"
	"fmt"
	"time"
)

// Shard is what the caller observed of one shard.
type Shard struct {
	Index    int32
	Players  int64
	Capacity int64 // players the shard takes; 0 means Policy.ShardCapacity
	Ready    bool  // the game server reported Ready
	Draining bool
	// Running: the shard's game server exists and is not crashed or shut down.
	// Only a running draining shard can be un-drained; a draining shard that is
	// not running has nobody left on it and is deleted. A draining game server
	// stops running on its own once it is empty.
	Running      bool
	DrainStarted time.Time // when Draining was set; zero if unknown
}

// Policy is a Region's scaling spec.
type Policy struct {
	MinShards              int32
	MaxShards              int32
	ShardCapacity          int64 // rooms per shard × room capacity
	TargetOccupancyPercent int32 // 1..100
	ScaleDownDelay         time.Duration
	DrainTimeout           time.Duration // 0: wait for the shard to empty, however long
}

// Validate tells what is wrong with a policy, so a bad Region surfaces as a
// condition instead of a silent wrong shard count.
func (p Policy) Validate() error {
	var errs []error
	if p.MinShards < 0 {
		errs = append(errs, fmt.Errorf("minShards %d is negative", p.MinShards))
	}
	if p.MaxShards < p.MinShards {
		errs = append(errs, fmt.Errorf("maxShards %d is below minShards %d", p.MaxShards, p.MinShards))
	}
	if p.ShardCapacity <= 0 {
		errs = append(errs, fmt.Errorf("shard capacity %d must be positive (roomsPerShard × roomCapacity)", p.ShardCapacity))
	}
	if p.TargetOccupancyPercent < 1 || p.TargetOccupancyPercent > 100 {
		errs = append(errs, fmt.Errorf("targetOccupancyPercent %d is outside 1..100", p.TargetOccupancyPercent))
	}
	if p.ScaleDownDelay < 0 {
		errs = append(errs, fmt.Errorf("scaleDownDelay %s is negative", p.ScaleDownDelay))
	}
	if p.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("drainTimeout %s is negative", p.DrainTimeout))
	}
	return errors.Join(errs...)
}

// Input is one evaluation of the policy.
type Input struct {
	Policy Policy
	Shards []Shard
	Now    time.Time
	// BelowSince is when there first were more serving shards than desired,
	// as returned in the previous Decision.BelowSince; zero if not below.
	BelowSince time.Time
	// CreateBlocked, when set, says why no shard may be created now (e.g.
	// no Hall gives the Region its settings): a Create becomes None with
	// this reason. Un-drains, drains and deletes go on.
	CreateBlocked string
}

// Action is what the caller should do next.
type Action int

const (
	None    Action = iota
	Create         // create shard Decision.Index
	Undrain        // clear the draining flag of shard Decision.Index
	Drain          // mark shard Decision.Index draining
	Delete         // delete shard Decision.Index
)

func (a Action) String() string {
	switch a {
	case None:
		return "none"
	case Create:
		return "create"
	case Undrain:
		return "undrain"
	case Drain:
		return "drain"
	case Delete:
		return "delete"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Decision is the policy's answer. One action per evaluation: the caller acts,
// observes again and asks again, so every step is taken on fresh data.
type Decision struct {
	Action Action
	Index  int32 // the shard acted on; meaningful when Action != None

	Desired  int32 // serving shards wanted, after clamping
	Serving  int32 // non-draining shards now
	Players  int64 // on all shards, draining included
	Capacity int64 // of the serving shards only
	// Limited: at max shards with occupancy above target, so players may find
	// the rooms full.
	Limited bool

	// CutOff is the number of players still connected to a shard deleted
	// because its drain timeout expired (the caller reports it in an event).
	CutOff int64
	// BelowSince is the hysteresis state to pass back in the next Input.
	BelowSince time.Time
	Reason     string
}

// OccupancyPercent of the serving capacity, rounded down; 0 without capacity.
func (d Decision) OccupancyPercent() int64 {
	if d.Capacity <= 0 {
		return 0
	}
	return d.Players * 100 / d.Capacity
}

// Desired is ceil(players / (capacity × target%)) clamped to [min, max], and
// whether the unclamped count is above max.
func Desired(p Policy, players int64) (desired int32, aboveMax bool) {
	per := p.ShardCapacity * int64(p.TargetOccupancyPercent) // players×100 one shard should hold
	n := int64(0)
	if players > 0 && per > 0 {
		n = (players*100 + per - 1) / per
	}
	if n > int64(p.MaxShards) {
		return p.MaxShards, true
	}
	if n < int64(p.MinShards) {
		return p.MinShards, false
	}
	return int32(n), false
}

// Decide evaluates the policy. It fails only on invalid input (bad policy,
// negative counts, duplicate indexes), without deciding anything.
func Decide(in Input) (Decision, error) {
	p := in.Policy
	if err := p.Validate(); err != nil {
		return Decision{}, fmt.Errorf("scaling policy: %w", err)
	}
	seen := make(map[int32]bool, len(in.Shards))
	var d Decision
	for _, s := range in.Shards {
		switch {
		case s.Index < 0:
			return Decision{}, fmt.Errorf("shard index %d is negative", s.Index)
		case seen[s.Index]:
			return Decision{}, fmt.Errorf("shard index %d appears twice", s.Index)
		case s.Players < 0:
			return Decision{}, fmt.Errorf("shard %d reports %d players", s.Index, s.Players)
		}
		seen[s.Index] = true
		d.Players += s.Players
		if !s.Draining {
			d.Serving++
			d.Capacity += capacity(p, s)
		}
	}
	d.Desired, _ = Desired(p, d.Players)
	d.Limited = d.Serving >= p.MaxShards && d.Players*100 > d.Capacity*int64(p.TargetOccupancyPercent)

	// Hysteresis clock: runs while more shards serve than needed.
	if d.Serving > d.Desired {
		d.BelowSince = in.BelowSince
		if d.BelowSince.IsZero() || d.BelowSince.After(in.Now) {
			d.BelowSince = in.Now
		}
	}

	deficit := d.Desired - d.Serving

	// 1. Load is back while a shard drains: un-drain the fullest running one
	//    (its players stay, the pod is warm) rather than start a new one.
	if deficit > 0 {
		if s, ok := pick(in.Shards, func(s Shard) bool { return s.Draining && s.Running }, fullestLowest); ok {
			d.Action, d.Index = Undrain, s.Index
			d.Reason = fmt.Sprintf("%d players need %d shards, %d serve: un-drain shard %d (%d players) before creating any", d.Players, d.Desired, d.Serving, s.Index, s.Players)
			return d, nil
		}
	}

	// 2. Remove draining shards whose game server is gone: it emptied and
	//    shut down, or it failed (nobody is on it either way). A running one
	//    waits, however empty it looks: only the game server knows that no
	//    player is entering at this instant.
	if s, ok := pick(in.Shards, func(s Shard) bool { return s.Draining && !s.Running }, emptiestHighest); ok {
		d.Action, d.Index = Delete, s.Index
		d.Reason = fmt.Sprintf("draining shard %d no longer runs (drained and shut down): delete it", s.Index)
		return d, nil
	}

	// 3. Drain timeout: the only way a shard with players is deleted.
	if p.DrainTimeout > 0 {
		expired := func(s Shard) bool {
			return s.Draining && !s.DrainStarted.IsZero() && !in.Now.Before(s.DrainStarted.Add(p.DrainTimeout))
		}
		if s, ok := pick(in.Shards, expired, emptiestHighest); ok {
			d.Action, d.Index, d.CutOff = Delete, s.Index, s.Players
			d.Reason = fmt.Sprintf("shard %d drained for %s (timeout %s) and still has %d players: delete it, cutting them off", s.Index, in.Now.Sub(s.DrainStarted).Round(time.Second), p.DrainTimeout, s.Players)
			return d, nil
		}
	}

	// 4. Scale up with the lowest free index. Steps 1–2 left no draining shard
	//    that runs or is empty, so the total stays within max.
	if deficit > 0 {
		idx := int32(0)
		for seen[idx] {
			idx++
		}
		d.Reason = fmt.Sprintf("%d players need %d shards at %d%% target, %d serve", d.Players, d.Desired, p.TargetOccupancyPercent, d.Serving)
		if in.CreateBlocked != "" {
			d.Reason += ", but no shard can be created: " + in.CreateBlocked
			return d, nil
		}
		d.Action, d.Index = Create, idx
		d.Reason += fmt.Sprintf(": create shard %d", idx)
		return d, nil
	}

	// 5. Scale down after the delay: drain the emptiest serving shard.
	if deficit < 0 {
		waited := in.Now.Sub(d.BelowSince)
		if waited < p.ScaleDownDelay {
			d.Reason = fmt.Sprintf("%d players need %d shards, %d serve: waiting %s more before draining", d.Players, d.Desired, d.Serving, (p.ScaleDownDelay - waited).Round(time.Second))
			return d, nil
		}
		s, _ := pick(in.Shards, func(s Shard) bool { return !s.Draining }, emptiestHighest)
		d.Action, d.Index = Drain, s.Index
		// Restart the clock: one drain per delay period, so a dip does not
		// drain several shards at once.
		d.BelowSince = time.Time{}
		d.Reason = fmt.Sprintf("%d players need %d shards, %d serve for %s: drain shard %d (%d players)", d.Players, d.Desired, d.Serving, waited.Round(time.Second), s.Index, s.Players)
		return d, nil
	}

	if d.Limited {
		d.Reason = fmt.Sprintf("at max %d shards with %d%% occupancy, above the %d%% target", p.MaxShards, d.OccupancyPercent(), p.TargetOccupancyPercent)
	} else {
		d.Reason = fmt.Sprintf("%d shards serve %d players as desired", d.Serving, d.Players)
	}
	return d, nil
}

func capacity(p Policy, s Shard) int64 {
	if s.Capacity > 0 {
		return s.Capacity
	}
	return p.ShardCapacity
}

// better reports whether a should be chosen over b.
type better func(a, b Shard) bool

func emptiestHighest(a, b Shard) bool {
	if a.Players != b.Players {
		return a.Players < b.Players
	}
	return a.Index > b.Index
}

func fullestLowest(a, b Shard) bool {
	if a.Players != b.Players {
		return a.Players > b.Players
	}
	return a.Index < b.Index
}

func pick(shards []Shard, ok func(Shard) bool, cmp better) (Shard, bool) {
	var best Shard
	found := false
	for _, s := range shards {
		if ok(s) && (!found || cmp(s, best)) {
			best, found = s, true
		}
	}
	return best, found
}

// ReplacementBackoff is how long to wait before replacing a shard's game
// server after its failures-th consecutive crash: base × 2^(failures-1),
// capped at limit, so a crash-looping image does not spin. No wait before the
// first replacement decision when failures <= 0.
func ReplacementBackoff(failures int32, base, limit time.Duration) time.Duration {
	if failures <= 0 || base <= 0 || limit <= 0 {
		return 0
	}
	if limit < base {
		return limit
	}
	d := base
	for i := int32(1); i < failures; i++ {
		if d > limit/2 { // doubling would pass the cap (and, far enough, overflow)
			return limit
		}
		d *= 2
	}
	return d
}
