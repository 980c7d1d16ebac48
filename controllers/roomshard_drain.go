package controllers

import (
	"context"
	"fmt"
	"maps"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// The drain is a conversation between the operator and the game server,
// through the GameServer object (the Agones SDK is the game server's only
// way to the API):
//
//	operator    → label LabelDraining "true" (spec.draining), annotation
//	              AnnotationDrainDeadline (drainStartTime + the Region's
//	              drainTimeout; absent: no deadline)
//	game server → label LabelDrainConfirmed "true" once it refuses new
//	              players and has reported its exact count; "false" once an
//	              un-drain reopened it
//	game server → POST /shutdown once confirmed and empty (Agones deletes the
//	              GameServer; the Region then deletes the RoomShard)
//
// The operator never deletes a running draining GameServer because a count
// read 0: only the game server knows no player is entering at that instant.
// The RoomShard's Draining condition shows where the conversation is.

// syncDrain passes the shard's drain request down to its GameServer.
func (r *RoomShardReconciler) syncDrain(ctx context.Context, shard *gamehallv1.RoomShard, gs *agonesv1.GameServer) error {
	deadline, err := r.drainDeadline(ctx, shard)
	if err != nil {
		return err
	}
	labels, annotations := maps.Clone(gs.Labels), maps.Clone(gs.Annotations)
	if labels == nil {
		labels = map[string]string{}
	}
	if annotations == nil {
		annotations = map[string]string{}
	}
	if shard.Spec.Draining {
		labels[gamehallv1.LabelDraining] = "true"
	} else {
		delete(labels, gamehallv1.LabelDraining)
	}
	if deadline != "" {
		annotations[gamehallv1.AnnotationDrainDeadline] = deadline
	} else {
		delete(annotations, gamehallv1.AnnotationDrainDeadline)
	}
	if maps.Equal(labels, gs.Labels) && maps.Equal(annotations, gs.Annotations) {
		return nil
	}
	patch := client.MergeFrom(gs.DeepCopy())
	gs.Labels, gs.Annotations = labels, annotations
	if err := r.Patch(ctx, gs, patch, FieldOwner); err != nil {
		return fmt.Errorf("pass the drain request to GameServer %s: %w", gs.Name, err)
	}
	return nil
}

// drainDeadline is when a draining shard's game server gives up on its last
// players (RFC 3339), or "" when its Region sets no drainTimeout.
func (r *RoomShardReconciler) drainDeadline(ctx context.Context, shard *gamehallv1.RoomShard) (string, error) {
	if !shard.Spec.Draining || shard.Spec.DrainStartTime == nil {
		return "", nil
	}
	var region gamehallv1.Region
	if err := r.Get(ctx, types.NamespacedName{Namespace: shard.Namespace, Name: shard.Spec.Region}, &region); err != nil {
		return "", client.IgnoreNotFound(err) // an orphan shard waits for its players
	}
	t := region.Spec.Scaling.DrainTimeout
	if t == nil || t.Duration <= 0 {
		return "", nil
	}
	return shard.Spec.DrainStartTime.Add(t.Duration).UTC().Format(time.RFC3339), nil
}

// drainConfirmed reports whether gs's game server confirmed a drain.
func drainConfirmed(gs *agonesv1.GameServer) bool {
	return gs != nil && gs.Labels[gamehallv1.LabelDrainConfirmed] == "true"
}

// setDrainingCondition mirrors the drain: asked for (spec) and confirmed by
// the game server (gs, nil when there is none).
func setDrainingCondition(shard *gamehallv1.RoomShard, gs *agonesv1.GameServer) {
	c := metav1.Condition{Type: gamehallv1.ConditionDraining, ObservedGeneration: shard.Generation}
	confirmed := drainConfirmed(gs)
	switch {
	case shard.Spec.Draining && gs == nil:
		c.Status, c.Reason = metav1.ConditionTrue, gamehallv1.ReasonDrained
		c.Message = "drained: the game server shut down"
	case shard.Spec.Draining && confirmed:
		c.Status, c.Reason = metav1.ConditionTrue, gamehallv1.ReasonDrainConfirmed
		c.Message = "the game server takes no new players and shuts down once the last one leaves"
	case shard.Spec.Draining:
		c.Status, c.Reason = metav1.ConditionTrue, gamehallv1.ReasonDrainRequested
		c.Message = "waiting for the game server to confirm the drain; it keeps running until it does and is empty"
	case confirmed:
		c.Status, c.Reason = metav1.ConditionTrue, gamehallv1.ReasonUndrainRequested
		c.Message = "un-drained; the game server refuses new players until it sees it"
	default:
		c.Status, c.Reason = metav1.ConditionFalse, gamehallv1.ReasonNotDraining
		c.Message = "the shard takes new players"
	}
	meta.SetStatusCondition(&shard.Status.Conditions, c)
}

// endedByDrain tells whether the shard's last GameServer ended because it
// drained (it shut itself down once empty), not because it failed: an
// un-drain that came just too late then starts a new one without counting a
// failure or backing off.
func endedByDrain(shard *gamehallv1.RoomShard, gs *agonesv1.GameServer) bool {
	if gs != nil {
		return gs.Status.State == agonesv1.GameServerStateShutdown && drainConfirmed(gs)
	}
	c := meta.FindStatusCondition(shard.Status.Conditions, gamehallv1.ConditionDraining)
	return c != nil && (c.Reason == gamehallv1.ReasonDrainConfirmed || c.Reason == gamehallv1.ReasonUndrainRequested || c.Reason == gamehallv1.ReasonDrained)
}
