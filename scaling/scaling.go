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
//     the shard saw the drain would be cut;
//   - an upgrade (shards on an out-of-date template) adds new shards first,
//     at most maxSurge above desired, and drains an outdated one only when the
//     ready shards left still make the desired count: capacity never drops, and
//     nobody is cut (the drained shard goes when its last player left).
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
	// Outdated: the shard's game server runs a template the Region no longer
	// asks for (a new image, say). It is replaced: a new shard first, then it
	// drains. Not set for a shard whose template is unknown.
	Outdated bool
}

// MaxShardIndex is the highest index a shard may have (RoomShard's schema).
const MaxShardIndex = 999

// Policy is a Region's scaling spec.
type Policy struct {
	MinShards              int32
	MaxShards              int32
	ShardCapacity          int64 // rooms per shard × room capacity
	TargetOccupancyPercent int32 // 1..100
	ScaleDownDelay         time.Duration
	DrainTimeout           time.Duration // 0: wait for the shard to empty, however long
	// MaxSurge is how many shards above desired an upgrade may run while it
	// replaces outdated ones; 0 means 1 (an upgrade without a surge could
	// only go on by cutting capacity, which this policy never does).
	MaxSurge int32
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
	if p.MaxSurge < 0 {
		errs = append(errs, fmt.Errorf("maxSurge %d is negative", p.MaxSurge))
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
	Outdated int32 // shards (draining ones included) on an out-of-date template
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
		if s.Outdated {
			d.Outdated++
		}
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
	//    An outdated one only when no shard can be created: it is on its way
	//    out.
	if deficit > 0 {
		undrainable := func(s Shard) bool { return s.Draining && s.Running && (!s.Outdated || in.CreateBlocked != "") }
		if s, ok := pick(in.Shards, undrainable, fullestLowest); ok {
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

	// 4. Scale up with the lowest free index. Serving shards stay within
	//    max; draining ones (outdated, or still holding players) come on top.
	if deficit > 0 {
		d.Reason = fmt.Sprintf("%d players need %d shards at %d%% target, %d serve", d.Players, d.Desired, p.TargetOccupancyPercent, d.Serving)
		return create(d, in, seen)
	}

	// 5. Upgrade: replace outdated serving shards, new ones first.
	if d, ok := rollout(d, in, seen); ok {
		return d, nil
	}

	// 6. Scale down after the delay: drain the emptiest serving shard.
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

// create makes shard d's action a Create of the lowest free index, unless
// creating is blocked or no index is free; d.Reason says why so far.
func create(d Decision, in Input, seen map[int32]bool) (Decision, error) {
	idx := int32(0)
	for seen[idx] {
		idx++
	}
	switch {
	case in.CreateBlocked != "":
		d.Reason += ", but no shard can be created: " + in.CreateBlocked
	case idx > MaxShardIndex:
		d.Reason += fmt.Sprintf(", but every shard index up to %d is taken", MaxShardIndex)
	default:
		d.Action, d.Index = Create, idx
		d.Reason += fmt.Sprintf(": create shard %d", idx)
	}
	return d, nil
}

// rollout is the upgrade step, taken when no scaling step was: drain an
// outdated serving shard if the ready serving shards left still make the
// desired count, else add a shard (on the current template) if the surge
// allows and fewer than desired are new, else wait for the new shards to
// be ready. ok is false when no
// serving shard is outdated.
func rollout(d Decision, in Input, seen map[int32]bool) (_ Decision, ok bool) {
	var outdated, ready int32
	for _, s := range in.Shards {
		if s.Draining {
			continue
		}
		if s.Outdated {
			outdated++
		}
		if s.Ready {
			ready++
		}
	}
	updated := d.Serving - outdated // new shards, ready or starting
	if outdated == 0 {
		return d, false
	}
	surge := max(in.Policy.MaxSurge, 1)
	// A shard that is not ready has nobody on it: drain those first, then
	// the emptiest.
	old, _ := pick(in.Shards, func(s Shard) bool { return !s.Draining && s.Outdated }, func(a, b Shard) bool {
		if a.Ready != b.Ready {
			return !a.Ready
		}
		return emptiestHighest(a, b)
	})
	left := ready
	if old.Ready {
		left--
	}
	progress := fmt.Sprintf("upgrade: %d of %d serving shards on an out-of-date template", outdated, d.Serving)
	switch {
	case left >= d.Desired:
		d.Action, d.Index = Drain, old.Index
		d.Reason = fmt.Sprintf("%s; %d ready shards stay for %d desired: drain outdated shard %d (%d players)", progress, left, d.Desired, old.Index, old.Players)
	case d.Serving < d.Desired+surge && updated < d.Desired:
		d.Reason = fmt.Sprintf("%s; %d serve for %d desired, maxSurge %d", progress, d.Serving, d.Desired, surge)
		d, _ = create(d, in, seen)
	default:
		d.Reason = fmt.Sprintf("%s; %d serve for %d desired (maxSurge %d): waiting for the new shards to be ready before draining one", progress, d.Serving, d.Desired, surge)
	}
	return d, true
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
