package controllers

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/scaling"
)

// status recomputes the Region's status from the shards as they now are.
func (r *RegionReconciler) status(region *gamehallv1.Region, shards []observed, terminating int, d scaling.Decision, policyErr error, settings HallSettings, setErr error) {
	st := &region.Status
	st.Shards = int32(len(shards) + terminating)
	st.ReadyShards, st.DrainingShards, st.Players, st.Capacity = 0, 0, 0, 0
	st.UpdatedShards, st.OutdatedShards = 0, 0
	counts := map[string]float64{"ready": 0, "starting": 0, "failed": 0, "draining": float64(terminating)}
	for _, s := range shards {
		st.Players += s.shard.Players
		if s.shard.Outdated {
			st.OutdatedShards++
		} else {
			st.UpdatedShards++
		}
		switch {
		case s.shard.Draining:
			st.DrainingShards++
			counts["draining"]++
		case s.shard.Ready:
			st.ReadyShards++
			st.Capacity += s.shard.Capacity
			counts["ready"]++
		case !s.shard.Running:
			counts["failed"]++
		default:
			counts["starting"]++
		}
	}
	st.DrainingShards += int32(terminating)
	st.DesiredShards = d.Desired
	st.Occupancy = "0%"
	if st.Capacity > 0 {
		st.Occupancy = fmt.Sprintf("%d%%", st.Players*100/st.Capacity)
	}
	st.Selector = gamehallv1.LabelRegion + "=" + region.Name
	for state, n := range counts {
		metricShards.WithLabelValues(region.Name, state).Set(n)
	}
	metricPlayers.WithLabelValues(region.Name).Set(float64(st.Players))
	metricDesired.WithLabelValues(region.Name).Set(float64(st.DesiredShards))

	ready := metav1.Condition{Type: gamehallv1.ConditionReady, ObservedGeneration: region.Generation}
	limited := metav1.Condition{Type: gamehallv1.ConditionScalingLimited, ObservedGeneration: region.Generation,
		Status: metav1.ConditionFalse, Reason: gamehallv1.ReasonWithinLimits, Message: "the Region can add shards as players arrive"}
	st.Hall = settings.Hall
	hall := metav1.Condition{Type: gamehallv1.ConditionHallSelected, ObservedGeneration: region.Generation,
		Status: metav1.ConditionTrue, Reason: gamehallv1.ReasonSelectedByHall,
		Message: fmt.Sprintf("Hall %s lists the Region: its shards use that Hall's presence store and ticket keys", settings.Hall)}
	if setErr != nil {
		hall.Status, hall.Reason, hall.Message = metav1.ConditionFalse, reasonOf(setErr), "no new shards until this is fixed: "+setErr.Error()
	}
	switch {
	case policyErr != nil:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, gamehallv1.ReasonShardsNotReady, policyErr.Error()
	case setErr != nil:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, hall.Reason, hall.Message
	case st.ReadyShards >= d.Desired && d.Desired == 0:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, gamehallv1.ReasonNoShards, "no players and minShards 0: no shards needed"
	case st.ReadyShards >= d.Desired:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, gamehallv1.ReasonShardsReady, fmt.Sprintf("%d of %d desired shards ready", st.ReadyShards, d.Desired)
	default:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, gamehallv1.ReasonShardsNotReady, fmt.Sprintf("%d of %d desired shards ready", st.ReadyShards, d.Desired)
	}
	if d.Limited {
		limited.Status, limited.Reason = metav1.ConditionTrue, gamehallv1.ReasonAtMaxShards
		limited.Message = fmt.Sprintf("at maxShards %d with occupancy above the %d%% target: new players may find rooms full", region.Spec.MaxShards, region.Spec.Scaling.TargetOccupancyPercent)
	}
	meta.SetStatusCondition(&st.Conditions, ready)
	meta.SetStatusCondition(&st.Conditions, hall)
	meta.SetStatusCondition(&st.Conditions, limited)
	meta.SetStatusCondition(&st.Conditions, upToDate(region, d, setErr))
}

// upToDate is the UpToDate condition: whether every shard runs the current
// template, or how the upgrade that replaces them stands.
func upToDate(region *gamehallv1.Region, d scaling.Decision, setErr error) metav1.Condition {
	st := &region.Status
	c := metav1.Condition{Type: gamehallv1.ConditionUpToDate, ObservedGeneration: region.Generation}
	surge := max(region.Spec.Scaling.MaxSurge, 1)
	switch {
	case setErr != nil:
		c.Status, c.Reason = metav1.ConditionUnknown, gamehallv1.ReasonTemplateUnknown
		c.Message = "the shards' template takes the Hall's settings, and no Hall gives them: " + setErr.Error()
	case st.OutdatedShards == 0:
		c.Status, c.Reason = metav1.ConditionTrue, gamehallv1.ReasonShardsUpToDate
		c.Message = fmt.Sprintf("every shard runs template %s", st.TemplateHash)
	default:
		c.Status, c.Reason = metav1.ConditionFalse, gamehallv1.ReasonRollingUpdate
		c.Message = fmt.Sprintf("%d of %d shards run an out-of-date template (current %s): new shards start first, at most %d above the %d desired, "+
			"and an old one drains when the ready shards left make the desired count, then goes when its last player left",
			st.OutdatedShards, st.OutdatedShards+st.UpdatedShards, st.TemplateHash, surge, d.Desired)
	}
	return c
}

// outdated tells whether shard's game server runs another template than
// the current one. A shard without a GameServer (Pending, Drained) gets
// the current one when it starts; one made by an operator that set no
// hash runs an unknown, so outdated, template.
func outdated(shard *gamehallv1.RoomShard, current string) bool {
	st := shard.Status
	switch {
	case current == "" || st.TemplateHash == current:
		return false
	case st.TemplateHash == "":
		return st.State != "" && st.State != statePending && st.State != stateDrained
	}
	return true
}
