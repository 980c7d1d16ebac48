package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	ctrlevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/scaling"
)

// RegionReconciler scales a Region's RoomShards with scaling.Decide.
type RegionReconciler struct {
	client.Client
	Recorder events.EventRecorder
	// Config gives the default game-server image, part of the shards'
	// template (an operator upgrade with a new image upgrades the shards).
	Config Config
	// MaxActions bounds the scaling writes of one Reconcile (0: 100), so a
	// Region going from 0 to 1,000 shards does not take 1,000 reconciles, yet
	// one call never holds the worker for long.
	MaxActions int

	// belowSince is the scale-down hysteresis clock per Region. It lives in
	// memory: after an operator restart the delay starts over, which only
	// delays a scale-down, never hastens one.
	mu         sync.Mutex
	belowSince map[types.NamespacedName]time.Time

	// written is the status this process last wrote per Region: its own
	// writes do not wake it (SetupWithManager), so its cache may lag them.
	written statusWrites[gamehallv1.RegionStatus]
}

// +kubebuilder:rbac:groups=gamehall.dev,resources=regions,verbs=get;list;watch
// +kubebuilder:rbac:groups=gamehall.dev,resources=regions/status,verbs=patch
// +kubebuilder:rbac:groups=gamehall.dev,resources=roomshards,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=gamehall.dev,resources=halls,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile takes the scaling steps the policy asks for, then writes status.
func (r *RegionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	defer observe("region", time.Now())
	var region gamehallv1.Region
	if err := r.Get(ctx, req.NamespacedName, &region); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !region.DeletionTimestamp.IsZero() {
		// The RoomShards are owned: the garbage collector removes them, and
		// each one's finalizer its GameServer.
		r.forget(req.NamespacedName, req.Name)
		return ctrl.Result{}, nil
	}
	// The cache may not have seen this reconciler's last status write yet:
	// start from that write, not from the older status (statusWrites), so
	// the change is measured, and conditions' transitions dated, against
	// what the API server holds.
	base := r.written.base(&region, region.Status)
	base.DeepCopyInto(&region.Status)
	before := region.DeepCopy()
	res, err := r.reconcileNormal(ctx, &region)
	region.Status.ObservedGeneration = region.Generation
	if perr := patchStatus(ctx, r.Client, before, &region, func(r *gamehallv1.Region) any { return r.Status }); perr != nil {
		err = errors.Join(err, fmt.Errorf("status: %w", perr))
	} else if region.ResourceVersion != before.ResourceVersion { // written: the answer carries the new version
		r.written.wrote(&region, *region.Status.DeepCopy())
	}
	return res, err
}

func (r *RegionReconciler) forget(key types.NamespacedName, name string) {
	r.mu.Lock()
	delete(r.belowSince, key)
	r.mu.Unlock()
	r.written.forget(key)
	for _, s := range []string{"ready", "starting", "failed", "draining"} {
		metricShards.DeleteLabelValues(name, s)
	}
	metricPlayers.DeleteLabelValues(name)
	metricDesired.DeleteLabelValues(name)
}

// observed is one shard as the policy and the status see it.
type observed struct {
	obj   *gamehallv1.RoomShard
	shard scaling.Shard
}

// observe1 sees one shard; template is the current template hash ("":
// unknown, so no shard counts as outdated).
func observe1(s *gamehallv1.RoomShard, template string) observed {
	state := agonesv1.GameServerState(s.Status.State)
	o := observed{obj: s, shard: scaling.Shard{
		Index:    s.Spec.Index,
		Players:  s.Status.Players,
		Capacity: s.Capacity(),
		Ready:    meta.IsStatusConditionTrue(s.Status.Conditions, gamehallv1.ConditionReady),
		Draining: s.Spec.Draining,
		Running:  !failed(state) && s.Status.State != stateDrained && s.Status.State != "Terminating",
		Outdated: outdated(s, template),
	}}
	if s.Spec.DrainStartTime != nil {
		o.shard.DrainStarted = s.Spec.DrainStartTime.Time
	}
	return o
}

func (r *RegionReconciler) reconcileNormal(ctx context.Context, region *gamehallv1.Region) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	key := client.ObjectKeyFromObject(region)
	var list gamehallv1.RoomShardList
	if err := r.List(ctx, &list, client.InNamespace(region.Namespace), client.MatchingFields{IndexRoomShardRegion: region.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list RoomShards: %w", err)
	}
	// D1: the shards' presence store and ticket keys come from the Hall that
	// lists the Region; without one, no new shard could serve its players.
	settings, setErr := hallSettings(ctx, r.Client, region)
	if _, ok := errors.AsType[*HallSettingsError](setErr); setErr != nil && !ok {
		return ctrl.Result{}, setErr
	}
	blocked, template := "", ""
	if setErr != nil {
		blocked = setErr.Error()
	} else {
		template = TemplateFor(region, settings, r.Config.GameServerImage).Hash()
	}
	region.Status.TemplateHash = template

	var shards []observed
	for i := range list.Items {
		// A shard being deleted waits for its GameServer to go; it is out of
		// the policy's view (its index frees up when it is gone).
		if list.Items[i].DeletionTimestamp.IsZero() {
			shards = append(shards, observe1(&list.Items[i], template))
		}
	}
	terminating := len(list.Items) - len(shards)

	policy := scaling.PolicyOf(region)
	r.mu.Lock()
	if r.belowSince == nil {
		r.belowSince = map[types.NamespacedName]time.Time{}
	}
	below := r.belowSince[key]
	r.mu.Unlock()

	maxActions := r.MaxActions
	if maxActions <= 0 {
		maxActions = 100
	}
	var (
		d       scaling.Decision
		err     error
		result  ctrl.Result
		actErr  error
		actions int
	)
	for {
		now := time.Now()
		in := scaling.Input{Policy: policy, Now: now, BelowSince: below, CreateBlocked: blocked}
		for _, s := range shards {
			in.Shards = append(in.Shards, s.shard)
		}
		d, err = scaling.Decide(in)
		if err != nil {
			event(r.Recorder, region, true, EventInvalidScaling, "Scale", "%v", err)
			r.status(region, shards, terminating, d, err, settings, setErr)
			return ctrl.Result{}, nil // a spec change brings us back
		}
		below = d.BelowSince
		if d.Action == scaling.None {
			result = r.requeueFor(policy, shards, d, now)
			break
		}
		if actions == maxActions {
			result = ctrl.Result{RequeueAfter: time.Millisecond} // more to do: yield, then go on
			break
		}
		actions++
		var requeue bool
		shards, requeue, actErr = r.act(ctx, region, shards, d, now, template)
		if actErr != nil || requeue {
			result = ctrl.Result{RequeueAfter: time.Second}
			break
		}
		log.V(1).Info("scaling", "action", d.Action.String(), "index", d.Index, "reason", d.Reason)
	}
	r.mu.Lock()
	r.belowSince[key] = below
	r.mu.Unlock()
	r.status(region, shards, terminating, d, nil, settings, setErr)
	return result, actErr
}

// requeueFor is when the policy's answer may change without any watch event:
// the scale-down delay or a drain timeout running out.
func (r *RegionReconciler) requeueFor(p scaling.Policy, shards []observed, d scaling.Decision, now time.Time) ctrl.Result {
	var next time.Duration
	consider := func(at time.Time) {
		if left := at.Sub(now); left > 0 && (next == 0 || left < next) {
			next = left
		}
	}
	if !d.BelowSince.IsZero() {
		consider(d.BelowSince.Add(p.ScaleDownDelay))
	}
	if p.DrainTimeout > 0 {
		for _, s := range shards {
			if s.shard.Draining && !s.shard.DrainStarted.IsZero() {
				consider(s.shard.DrainStarted.Add(p.DrainTimeout))
			}
		}
	}
	if next > 0 {
		next += 100 * time.Millisecond // land just after the deadline, not on it
	}
	return ctrl.Result{RequeueAfter: next}
}

// act carries out one decision and returns the shards as they now are.
// requeue asks to come back later (a name still taken by a shard being deleted).
func (r *RegionReconciler) act(ctx context.Context, region *gamehallv1.Region, shards []observed, d scaling.Decision, now time.Time, template string) (_ []observed, requeue bool, _ error) {
	find := func() int {
		for i, s := range shards {
			if s.shard.Index == d.Index {
				return i
			}
		}
		return -1
	}
	metricDecisions.WithLabelValues(d.Action.String()).Inc()
	switch d.Action {
	case scaling.Create:
		s := newRoomShard(region, d.Index)
		if err := controllerutil.SetControllerReference(region, s, r.Scheme()); err != nil {
			return shards, false, err
		}
		if err := r.Create(ctx, s, FieldOwner); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return shards, true, nil
			}
			return shards, false, fmt.Errorf("create RoomShard %s: %w", s.Name, err)
		}
		event(r.Recorder, region, false, EventShardCreated, "Scale", "created shard %d (%s): %s", d.Index, s.Name, d.Reason)
		return append(shards, observe1(s, template)), false, nil

	case scaling.Drain, scaling.Undrain:
		i := find()
		s := shards[i].obj
		patch := client.MergeFrom(s.DeepCopy())
		s.Spec.Draining = d.Action == scaling.Drain
		s.Spec.DrainStartTime = nil
		if s.Spec.Draining {
			t := metav1.NewTime(now)
			s.Spec.DrainStartTime = &t
		}
		if err := r.Patch(ctx, s, patch, FieldOwner); err != nil {
			return shards, false, fmt.Errorf("%s RoomShard %s: %w", d.Action, s.Name, err)
		}
		if d.Action == scaling.Drain {
			event(r.Recorder, region, false, EventShardDraining, "Scale", "draining shard %d (%s): %s", d.Index, s.Name, d.Reason)
		} else {
			event(r.Recorder, region, false, EventShardUndrained, "Scale", "un-draining shard %d (%s): %s", d.Index, s.Name, d.Reason)
		}
		shards[i] = observe1(s, template)
		return shards, false, nil

	case scaling.Delete:
		i := find()
		s := shards[i].obj
		if err := r.Delete(ctx, s, client.Preconditions{UID: &s.UID}); client.IgnoreNotFound(err) != nil {
			return shards, false, fmt.Errorf("delete RoomShard %s: %w", s.Name, err)
		}
		if d.CutOff > 0 {
			event(r.Recorder, region, true, EventDrainTimeoutExpired, "Scale", "deleted shard %d (%s) after the drain timeout: %d players were cut off (rooms %s)", d.Index, s.Name, d.CutOff, s.Status.Rooms)
		} else {
			event(r.Recorder, region, false, EventShardDeleted, "Scale", "deleted shard %d (%s): %s", d.Index, s.Name, d.Reason)
		}
		return append(shards[:i], shards[i+1:]...), false, nil
	}
	return shards, false, nil
}

// ShardName is the name of a Region's index-th RoomShard.
func ShardName(region string, index int32) string { return fmt.Sprintf("%s-%d", region, index) }

func newRoomShard(region *gamehallv1.Region, index int32) *gamehallv1.RoomShard {
	return &gamehallv1.RoomShard{
		ObjectMeta: metav1.ObjectMeta{
			Name:      ShardName(region.Name, index),
			Namespace: region.Namespace,
			Labels: map[string]string{
				gamehallv1.LabelRegion:     region.Name,
				gamehallv1.LabelShardIndex: strconv.Itoa(int(index)),
			},
		},
		Spec: gamehallv1.RoomShardSpec{
			Region:        region.Name,
			Index:         index,
			Game:          region.Spec.Game,
			FirstRoom:     index*region.Spec.RoomsPerShard + 1,
			Rooms:         region.Spec.RoomsPerShard,
			RoomCapacity:  region.Spec.RoomCapacity,
			TablesPerRoom: region.Spec.TablesPerRoom,
		},
	}
}

// StatusBatch is how long a Region waits after a shard's status changed
// before it looks again: with 1,000 shards reporting every 5 s, the reports
// of one window fold into one Region reconcile and at most one Region status
// write, instead of 200 a second. Shards appearing, going or changing spec
// are seen at once.
const StatusBatch = time.Second

// SetupWithManager watches Regions and their RoomShards.
func (r *RegionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	toRegion := func(o client.Object) reconcile.Request {
		return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.(*gamehallv1.RoomShard).Spec.Region}}
	}
	shards := handler.Funcs{
		CreateFunc: func(_ context.Context, e ctrlevent.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			q.Add(toRegion(e.Object))
		},
		DeleteFunc: func(_ context.Context, e ctrlevent.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			q.Add(toRegion(e.Object))
		},
		UpdateFunc: func(_ context.Context, e ctrlevent.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() || !e.ObjectNew.GetDeletionTimestamp().IsZero() {
				q.Add(toRegion(e.ObjectNew))
				return
			}
			// The delaying queue keeps one entry per key: reports coalesce.
			q.AddAfter(toRegion(e.ObjectNew), StatusBatch)
		},
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Spec and label changes only (labels choose the Hall): the Region's
		// own status writes must not undo the batching above.
		For(&gamehallv1.Region{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&gamehallv1.RoomShard{}, shards).
		// A Hall's spec (selector, settings) decides what the Regions inherit;
		// its status, rewritten as players come and go, does not.
		Watches(&gamehallv1.Hall{}, handler.EnqueueRequestsFromMapFunc(r.regionsOfNamespace),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("region").
		Complete(r)
}

func (r *RegionReconciler) regionsOfNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	var list gamehallv1.RegionList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, rg := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&rg)})
	}
	return reqs
}
