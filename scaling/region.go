package scaling

import gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"

// PolicyOf is a Region's scaling spec as the policy takes it; the operator and
// local mode both read a Region through it.
func PolicyOf(region *gamehallv1.Region) Policy {
	p := Policy{
		MinShards:              region.Spec.MinShards,
		MaxShards:              region.Spec.MaxShards,
		ShardCapacity:          region.ShardCapacity(),
		TargetOccupancyPercent: region.Spec.Scaling.TargetOccupancyPercent,
		ScaleDownDelay:         region.Spec.Scaling.ScaleDownDelayDuration(),
		MaxSurge:               region.Spec.Scaling.MaxSurge,
	}
	if region.Spec.Scaling.DrainTimeout != nil {
		p.DrainTimeout = region.Spec.Scaling.DrainTimeout.Duration
	}
	return p
}
