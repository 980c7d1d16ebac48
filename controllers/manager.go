package controllers

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
)

// errAgonesMissing says how to install the Agones GameServer CRD.
var errAgonesMissing = errors.New("the Agones GameServer CRD (gameservers.agones.dev, version v1) is not installed in this cluster: " +
	"install Agones (https://agones.dev/site/docs/installation/), or for a test control plane " +
	"`kubectl apply -f config/agones/gameserver-crd.yaml`, then start the operator again")

// CheckAgonesCRD fails with instructions when the API server does not serve
// agones.dev/v1 GameServers: without it the RoomShard controller cannot
// start its watch, and the manager would only log "no matches for kind".
func CheckAgonesCRD(mapper meta.RESTMapper) error {
	gk := schema.GroupKind{Group: agonesv1.GroupVersion.Group, Kind: "GameServer"}
	if _, err := mapper.RESTMapping(gk, agonesv1.GroupVersion.Version); err != nil {
		if meta.IsNoMatchError(err) {
			return errAgonesMissing
		}
		return fmt.Errorf("looking up the Agones GameServer kind: %w", err)
	}
	return nil
}

// Setup registers the field indexes and the three reconcilers with mgr.
func Setup(ctx context.Context, mgr ctrl.Manager, cfg Config) error {
	if err := CheckAgonesCRD(mgr.GetRESTMapper()); err != nil {
		return err
	}
	if err := SetupIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		return fmt.Errorf("field indexes: %w", err)
	}
	rec := mgr.GetEventRecorder("gamehall-operator")
	if err := (&RoomShardReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: rec, Config: cfg}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("roomshard controller: %w", err)
	}
	if err := (&RegionReconciler{Client: mgr.GetClient(), Recorder: rec, Config: cfg}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("region controller: %w", err)
	}
	if err := (&HallReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: rec, Config: cfg}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("hall controller: %w", err)
	}
	return nil
}
