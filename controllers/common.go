// Package controllers holds the gamehall operator's reconcilers: Region
// (scales RoomShards with the pure policy in package scaling), RoomShard (runs
// one Agones GameServer and mirrors it) and Hall (a Deployment of hall
// servers). Each follows the same shape: get the object (gone: done), handle
// the finalizer, reconcileDelete or reconcileNormal, then one status patch
// computed from what was observed, written only when it changed.
package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// FieldOwner is the operator's constant field manager for every write.
const FieldOwner = client.FieldOwner("gamehall-operator")

// Ports of a game server (DESIGN.md; GAMEHALL_PORT / GAMEHALL_INTERNAL_PORT).
const (
	PlayersPortName     = "players"
	PlayersPort         = 7000
	InternalPortName    = "internal"
	InternalPort        = 7001
	GameServerContainer = "gameserver"

	// CounterPlayers is the GameServer counter of players in the shard's
	// rooms; the rooms themselves travel in the annotation
	// roomreport.Annotation.
	CounterPlayers = "players"
)

// Field indexes registered by SetupIndexes.
const (
	// IndexRoomShardRegion indexes RoomShards by spec.region.
	IndexRoomShardRegion = "spec.region"
	// IndexGameServerShard indexes GameServers by their controlling RoomShard's name.
	IndexGameServerShard = "gamehall.roomshard"
)

// Config is what the controllers need beyond the API objects.
type Config struct {
	// GameServerImage runs shards whose Region has no pod template.
	GameServerImage string
	// HallImage runs halls whose spec names no image.
	HallImage string
	// ReplaceBackoffBase and ReplaceBackoffMax bound the wait before a failed
	// GameServer is replaced (exponential in the shard's restarts).
	ReplaceBackoffBase, ReplaceBackoffMax time.Duration
}

// DefaultConfig is what `gamehall operator` uses unless told otherwise.
func DefaultConfig() Config {
	return Config{
		GameServerImage:    "gamehall:dev",
		HallImage:          "gamehall:dev",
		ReplaceBackoffBase: 5 * time.Second,
		ReplaceBackoffMax:  5 * time.Minute,
	}
}

// NewScheme returns a scheme with the built-in kinds, the gamehall API and
// the Agones GameServer mirror.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, gamehallv1.AddToScheme, agonesv1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SetupIndexes registers the field indexes the reconcilers list by.
func SetupIndexes(ctx context.Context, idx client.FieldIndexer) error {
	if err := idx.IndexField(ctx, &gamehallv1.RoomShard{}, IndexRoomShardRegion, func(o client.Object) []string {
		return []string{o.(*gamehallv1.RoomShard).Spec.Region}
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &agonesv1.GameServer{}, IndexGameServerShard, func(o client.Object) []string {
		for _, ref := range o.GetOwnerReferences() {
			if ref.Controller != nil && *ref.Controller && ref.Kind == "RoomShard" && ref.APIVersion == gamehallv1.GroupVersion.String() {
				return []string{ref.Name}
			}
		}
		return nil
	})
}

// patchStatus writes obj's whole status, recomputed from observation, as a
// merge patch — only when it differs from before, so the API server sees one
// write per real change. The whole status, not a diff: the schema requires
// fields (players, …) whose zero value a diff would leave out; fields that
// were set and are now empty (omitted from the JSON) are sent as null, or the
// merge would keep them. No resourceVersion: the operator is the status's
// only writer.
func patchStatus[T client.Object](ctx context.Context, c client.Client, before, obj T, statusOf func(T) any) error {
	st := statusOf(obj)
	if equality.Semantic.DeepEqual(statusOf(before), st) {
		return nil
	}
	now, err := jsonFields(st)
	if err != nil {
		return err
	}
	was, err := jsonFields(statusOf(before))
	if err != nil {
		return err
	}
	for k := range was {
		if _, ok := now[k]; !ok {
			now[k] = nil
		}
	}
	body, err := json.Marshal(map[string]any{"status": now})
	if err != nil {
		return err
	}
	return c.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, body), FieldOwner)
}

// jsonFields is v's JSON object, one raw value per field.
func jsonFields(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(m))
	for k, raw := range m {
		out[k] = raw
	}
	return out, nil
}

// event records an events.k8s.io event; reasons are the constants below.
func event(r events.EventRecorder, obj runtime.Object, warning bool, reason, action, format string, args ...any) {
	if r == nil {
		return
	}
	t := "Normal"
	if warning {
		t = "Warning"
	}
	r.Eventf(obj, nil, t, reason, action, format, args...)
}

// Event reasons: constant CamelCase, so alerts and scripts can match them.
const (
	EventShardCreated        = "ShardCreated"
	EventShardDraining       = "ShardDraining"
	EventShardUndrained      = "ShardUndrained"
	EventShardDeleted        = "ShardDeleted"
	EventDrainTimeoutExpired = "DrainTimeoutExpired"
	EventInvalidScaling      = "InvalidScalingPolicy"
	EventGameServerCreated   = "GameServerCreated"
	EventGameServerFailed    = "GameServerFailed"
	EventGameServerReplaced  = "GameServerReplaced"
	EventGameServerDrained   = "GameServerDrained"
	EventInvalidPodTemplate  = "InvalidPodTemplate"
	EventHallChildrenUpdated = "ChildrenUpdated"
	// EventObjectNotOwned: a child's name is taken by an object the
	// owner does not control; the operator leaves it alone.
	EventObjectNotOwned = "ObjectNotOwned"
)

// notOwnedRetry is how often an owner looks again at a name an object it
// does not control holds: that object is not in the cache (CacheOptions),
// so its deletion is not seen.
const notOwnedRetry = 15 * time.Second

// NotOwnedError says that an object the operator would write exists and is
// not controlled by the object it would write it for: the operator never
// adopts it (docs/security.md).
type NotOwnedError struct {
	Kind, Namespace, Name string
	Owner                 string // e.g. "Hall main"
}

func (e *NotOwnedError) Error() string {
	return fmt.Sprintf("%s %s/%s exists and is not controlled by %s: not adopted; delete or rename it and the operator creates its own", e.Kind, e.Namespace, e.Name, e.Owner)
}

// Metrics, all gamehall_ prefixed, labelled by low-cardinality values only
// (region names are few; shard names are not used as labels).
var (
	metricShards = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gamehall_region_shards",
		Help: "RoomShards of a Region by state (ready, starting, failed, draining).",
	}, []string{"region", "state"})
	metricPlayers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gamehall_region_players",
		Help: "Players in a Region's shards as last reported.",
	}, []string{"region"})
	metricDesired = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gamehall_region_desired_shards",
		Help: "Serving shards the scaling policy asks for.",
	}, []string{"region"})
	metricDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gamehall_scaling_decisions_total",
		Help: "Scaling actions taken (create, drain, undrain, delete).",
	}, []string{"action"})
	metricReplacements = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gamehall_gameserver_replacements_total",
		Help: "Failed GameServers replaced.",
	})
	metricReconcile = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gamehall_reconcile_duration_seconds",
		Help:    "Time of one Reconcile call by controller.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"controller"})
)

func init() {
	metrics.Registry.MustRegister(metricShards, metricPlayers, metricDesired, metricDecisions, metricReplacements, metricReconcile)
}

func observe(controller string, start time.Time) {
	metricReconcile.WithLabelValues(controller).Observe(time.Since(start).Seconds())
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
