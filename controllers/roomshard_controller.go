package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/scaling"
)

// shardFinalizer makes a RoomShard outlive its GameServer: the hall keeps
// seeing the shard until its process is gone, and no GameServer is orphaned
// where no garbage collector runs.
const shardFinalizer = "gamehall.dev/gameserver"

// annotationReplacement numbers a shard's GameServers (0 the first, +1 per
// replacement), which also names them: <shard>-gs<N>. Deterministic names
// make a create retried from a stale cache fail with AlreadyExists instead of
// starting a second process for the same rooms.
const annotationReplacement = "gamehall.dev/replacement"

// State shown when the shard has no GameServer.
const (
	statePending = "Pending"
	stateDrained = "Drained"
)

// RoomShardReconciler runs one Agones GameServer per RoomShard and mirrors it.
type RoomShardReconciler struct {
	client.Client
	// APIReader reads a GameServer that holds the name of the shard's next
	// one and is not in the cache (CacheOptions).
	APIReader client.Reader
	Recorder  events.EventRecorder
	Config    Config

	// failedSince remembers, per failed GameServer UID, when this process
	// first saw it fail (a time.Time), or that it replaced it (replaced{}).
	// The cache may not show our last status write or delete yet, so the
	// Ready condition alone would announce the same failure twice, restart
	// its backoff, or replace the same GameServer again. One small entry per
	// crash, for the life of the process.
	failedSince sync.Map
}

// +kubebuilder:rbac:groups=gamehall.dev,resources=roomshards,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=gamehall.dev,resources=roomshards/status,verbs=patch
// +kubebuilder:rbac:groups=gamehall.dev,resources=roomshards/finalizers,verbs=update
// +kubebuilder:rbac:groups=gamehall.dev,resources=regions,verbs=get;list;watch
// +kubebuilder:rbac:groups=gamehall.dev,resources=halls,verbs=get;list;watch
// +kubebuilder:rbac:groups=agones.dev,resources=gameservers,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one RoomShard's GameServer in line with its spec.
func (r *RoomShardReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	defer observe("roomshard", time.Now())
	var shard gamehallv1.RoomShard
	if err := r.Get(ctx, req.NamespacedName, &shard); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !shard.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, &shard)
	}
	if !controllerutil.ContainsFinalizer(&shard, shardFinalizer) {
		patch := client.MergeFromWithOptions(shard.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(&shard, shardFinalizer)
		if err := r.Patch(ctx, &shard, patch, FieldOwner); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}
	before := shard.DeepCopy()
	res, err := r.reconcileNormal(ctx, &shard)
	shard.Status.ObservedGeneration = shard.Generation
	if perr := patchStatus(ctx, r.Client, before, &shard, func(s *gamehallv1.RoomShard) any { return s.Status }); perr != nil {
		err = errors.Join(err, fmt.Errorf("status: %w", perr))
	}
	return res, err
}

func (r *RoomShardReconciler) reconcileDelete(ctx context.Context, shard *gamehallv1.RoomShard) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(shard, shardFinalizer) {
		return ctrl.Result{}, nil
	}
	gss, err := r.gameServers(ctx, shard)
	if err != nil {
		return ctrl.Result{}, err
	}
	for i := range gss {
		if gss[i].DeletionTimestamp.IsZero() {
			if err := r.Delete(ctx, &gss[i]); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, fmt.Errorf("delete GameServer %s: %w", gss[i].Name, err)
			}
		}
	}
	if len(gss) > 0 {
		return ctrl.Result{}, nil // the GameServers' deletion events bring us back
	}
	patch := client.MergeFromWithOptions(shard.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(shard, shardFinalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, shard, patch, FieldOwner))
}

// gameServers lists the GameServers the shard controls, newest first.
func (r *RoomShardReconciler) gameServers(ctx context.Context, shard *gamehallv1.RoomShard) ([]agonesv1.GameServer, error) {
	var list agonesv1.GameServerList
	if err := r.List(ctx, &list, client.InNamespace(shard.Namespace), client.MatchingFields{IndexGameServerShard: shard.Name}); err != nil {
		return nil, fmt.Errorf("list GameServers: %w", err)
	}
	items := list.Items[:0]
	for _, gs := range list.Items {
		if metav1.IsControlledBy(&gs, shard) {
			items = append(items, gs)
		}
	}
	for i := 1; i < len(items); i++ { // few items: insertion sort by replacement number, newest first
		for j := i; j > 0 && replacementOf(&items[j]) > replacementOf(&items[j-1]); j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}
	return items, nil
}

func replacementOf(gs *agonesv1.GameServer) int32 {
	n, err := strconv.ParseInt(gs.Annotations[annotationReplacement], 10, 32)
	if err != nil {
		return -1
	}
	return int32(n)
}

func failed(s agonesv1.GameServerState) bool {
	return s == agonesv1.GameServerStateUnhealthy || s == agonesv1.GameServerStateError || s == agonesv1.GameServerStateShutdown
}

func serving(s agonesv1.GameServerState) bool {
	return s == agonesv1.GameServerStateReady || s == agonesv1.GameServerStateAllocated || s == agonesv1.GameServerStateReserved
}

func (r *RoomShardReconciler) reconcileNormal(ctx context.Context, shard *gamehallv1.RoomShard) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	st := &shard.Status
	st.Capacity = shard.Capacity()
	st.Rooms = fmt.Sprintf("%d-%d", shard.Spec.FirstRoom, shard.LastRoom())

	gss, err := r.gameServers(ctx, shard)
	if err != nil {
		return ctrl.Result{}, err
	}
	var current *agonesv1.GameServer
	if len(gss) > 0 {
		current = &gss[0]
		st.Restarts = max(st.Restarts, replacementOf(current))
	}
	drained := endedByDrain(shard, current) // before the condition is recomputed
	setDrainingCondition(shard, current)
	// Older GameServers left by a replacement that was cut short.
	for i := 1; i < len(gss); i++ {
		if gss[i].DeletionTimestamp.IsZero() {
			if err := r.Delete(ctx, &gss[i]); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, fmt.Errorf("delete old GameServer %s: %w", gss[i].Name, err)
			}
		}
	}

	switch {
	case current == nil && shard.Spec.Draining:
		// Drained (or never started): nothing runs and nothing should.
		r.clearMirror(shard, stateDrained)
		setReady(shard, metav1.ConditionFalse, gamehallv1.ReasonDrained, "the shard drained and its GameServer is gone")
		return ctrl.Result{}, nil

	case current == nil:
		n := st.Restarts
		switch {
		case st.GameServer != "" && drained:
			// It drained, emptied and shut down just as it was un-drained.
			event(r.Recorder, shard, false, EventGameServerDrained, "Create", "GameServer %s shut down drained before it saw the un-drain; creating a new one", st.GameServer)
		case st.GameServer != "":
			// It existed and vanished without us: count it as a failure.
			n++
			event(r.Recorder, shard, true, EventGameServerFailed, "Replace", "GameServer %s disappeared; creating a new one", st.GameServer)
		}
		return r.create(ctx, shard, n)

	case !current.DeletionTimestamp.IsZero():
		r.mirror(shard, current)
		st.State = "Terminating"
		setReady(shard, metav1.ConditionFalse, gamehallv1.ReasonGameServerPending, fmt.Sprintf("GameServer %s is being deleted", current.Name))
		return ctrl.Result{}, nil

	case failed(current.Status.State) && shard.Spec.Draining:
		// Shut down once drained and empty (or crashed while draining):
		// nobody is left on it. Agones deletes a Shutdown GameServer itself;
		// deleting it here too covers the other failed states.
		r.mirror(shard, current)
		if err := r.Delete(ctx, current); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, fmt.Errorf("delete drained GameServer %s: %w", current.Name, err)
		}
		if current.Status.State == agonesv1.GameServerStateShutdown {
			log.Info("drained shard shut down empty", "gameServer", current.Name)
			event(r.Recorder, shard, false, EventGameServerDrained, "Delete", "GameServer %s drained, emptied and shut down", current.Name)
		}
		st.State = "Terminating"
		setReady(shard, metav1.ConditionFalse, gamehallv1.ReasonDrained, "the shard drained: its GameServer is being deleted")
		return ctrl.Result{}, nil

	case failed(current.Status.State) && endedByDrain(shard, current):
		// Drained and shut down just as it was un-drained: no failure.
		r.mirror(shard, current)
		if err := r.Delete(ctx, current); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, fmt.Errorf("delete drained GameServer %s: %w", current.Name, err)
		}
		st.State = "Terminating"
		setReady(shard, metav1.ConditionFalse, gamehallv1.ReasonGameServerPending, fmt.Sprintf("GameServer %s shut down drained before it saw the un-drain; a new one follows", current.Name))
		return ctrl.Result{}, nil

	case failed(current.Status.State):
		r.mirror(shard, current)
		return r.replace(ctx, shard, current)
	}

	// Running (or starting): pass the drain request down and mirror the
	// status. A draining game server shuts itself down once it is empty;
	// the operator deletes none on a count (see roomshard_drain.go).
	if err := r.syncDrain(ctx, shard, current); err != nil {
		return ctrl.Result{}, err
	}
	r.mirror(shard, current)
	if serving(current.Status.State) && st.Address != "" {
		setReady(shard, metav1.ConditionTrue, gamehallv1.ReasonGameServerReady, fmt.Sprintf("GameServer %s is %s at %s:%d", current.Name, current.Status.State, st.Address, st.Port))
	} else {
		setReady(shard, metav1.ConditionFalse, gamehallv1.ReasonGameServerPending, fmt.Sprintf("GameServer %s is %s", current.Name, st.State))
	}
	return ctrl.Result{}, nil
}

// replace deletes a failed GameServer and starts the next one, once the
// backoff for this shard's restart count has passed since the failure was
// first seen (the Ready condition's transition time remembers it).
func (r *RoomShardReconciler) replace(ctx context.Context, shard *gamehallv1.RoomShard, current *agonesv1.GameServer) (ctrl.Result, error) {
	st := &shard.Status
	failures := st.Restarts + 1
	wait := scaling.ReplacementBackoff(failures, r.Config.ReplaceBackoffBase, r.Config.ReplaceBackoffMax)
	msg := fmt.Sprintf("GameServer %s is %s; replacement %d after a %s backoff", current.Name, current.Status.State, failures, wait)
	var since time.Time
	if seen, ok := r.failedSince.Load(current.UID); ok {
		t, pending := seen.(time.Time)
		if !pending {
			// Already replaced: the cache has not caught up with the delete.
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		since = t
	} else if prev := meta.FindStatusCondition(st.Conditions, gamehallv1.ConditionReady); prev != nil && prev.Reason == gamehallv1.ReasonGameServerFailed {
		// Seen by an earlier operator process: its condition keeps the time.
		since = prev.LastTransitionTime.Time
		r.failedSince.Store(current.UID, since)
	} else {
		since = time.Now()
		r.failedSince.Store(current.UID, since)
		event(r.Recorder, shard, true, EventGameServerFailed, "Replace", "GameServer %s is %s; replacing it in %s", current.Name, current.Status.State, wait)
	}
	setReady(shard, metav1.ConditionFalse, gamehallv1.ReasonGameServerFailed, msg)
	// The condition's transition time records when the failure was seen.
	meta.FindStatusCondition(st.Conditions, gamehallv1.ConditionReady).LastTransitionTime = metav1.NewTime(since)
	if left := time.Until(since.Add(wait)); left > 0 {
		return ctrl.Result{RequeueAfter: left}, nil
	}
	if err := r.Delete(ctx, current); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("delete failed GameServer %s: %w", current.Name, err)
	}
	r.failedSince.Store(current.UID, replaced{})
	metricReplacements.Inc()
	event(r.Recorder, shard, true, EventGameServerReplaced, "Replace", "replaced %s GameServer %s (restart %d)", current.Status.State, current.Name, failures)
	return r.create(ctx, shard, failures)
}

// replaced marks a failed GameServer this process already replaced.
type replaced struct{}

func (r *RoomShardReconciler) create(ctx context.Context, shard *gamehallv1.RoomShard, n int32) (ctrl.Result, error) {
	st := &shard.Status
	var region gamehallv1.Region
	if err := r.Get(ctx, types.NamespacedName{Namespace: shard.Namespace, Name: shard.Spec.Region}, &region); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		// An orphan shard still runs its rooms, with the default template
		// and the settings of a Hall that lists every Region.
		region = gamehallv1.Region{ObjectMeta: metav1.ObjectMeta{Namespace: shard.Namespace, Name: shard.Spec.Region}}
	}
	settings, err := hallSettings(ctx, r.Client, &region)
	if e, ok := errors.AsType[*HallSettingsError](err); ok {
		r.clearMirror(shard, statePending)
		setReady(shard, metav1.ConditionFalse, e.Reason, "cannot start a GameServer: "+e.Message)
		return ctrl.Result{}, nil // a Hall or Region change brings us back
	} else if err != nil {
		return ctrl.Result{}, err
	}
	gs, err := GameServerFor(shard, TemplateFor(&region, settings, r.Config.GameServerImage), n)
	if err == nil {
		err = controllerutil.SetControllerReference(shard, gs, r.Scheme())
	}
	if err == nil {
		err = r.Create(ctx, gs, FieldOwner)
	}
	switch {
	case apierrors.IsAlreadyExists(err):
		if e := r.foreign(ctx, shard, gs); e != nil {
			// Never adopted: a GameServer of another's could run anything.
			prev := meta.FindStatusCondition(st.Conditions, gamehallv1.ConditionReady)
			if prev == nil || prev.Reason != gamehallv1.ReasonObjectNotOwned || prev.Message != e.Error() {
				event(r.Recorder, shard, true, EventObjectNotOwned, "Create", "%s", e.Error())
			}
			r.clearMirror(shard, statePending)
			setReady(shard, metav1.ConditionFalse, gamehallv1.ReasonObjectNotOwned, e.Error())
			return ctrl.Result{RequeueAfter: notOwnedRetry}, nil
		}
		// A stale cache hid it; the watch brings the real state shortly.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	case apierrors.IsInvalid(err) || (err != nil && errors.Is(err, errTemplate)):
		event(r.Recorder, shard, true, EventInvalidPodTemplate, "Create", "cannot create the GameServer: %v", err)
		r.clearMirror(shard, statePending)
		setReady(shard, metav1.ConditionFalse, gamehallv1.ReasonInvalidPodTemplate, err.Error())
		return ctrl.Result{}, nil // a Region change brings us back
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("create GameServer %s: %w", gs.Name, err)
	}
	event(r.Recorder, shard, false, EventGameServerCreated, "Create", "created GameServer %s", gs.Name)
	st.Restarts = n
	r.clearMirror(shard, statePending)
	st.GameServer, st.TemplateHash = gs.Name, gs.Labels[gamehallv1.LabelTemplateHash]
	setReady(shard, metav1.ConditionFalse, gamehallv1.ReasonGameServerPending, fmt.Sprintf("GameServer %s created", gs.Name))
	return ctrl.Result{}, nil
}

// foreign is a *NotOwnedError when gs's name is taken by a GameServer the
// shard does not control (nil: ours, or not in the cache yet).
func (r *RoomShardReconciler) foreign(ctx context.Context, shard *gamehallv1.RoomShard, gs *agonesv1.GameServer) *NotOwnedError {
	var got agonesv1.GameServer // not cached unless it has the RoomShard label: read it
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(gs), &got); err != nil || metav1.IsControlledBy(&got, shard) {
		return nil
	}
	return &NotOwnedError{Kind: "GameServer", Namespace: got.Namespace, Name: got.Name, Owner: "RoomShard " + shard.Name}
}

func (r *RoomShardReconciler) mirror(shard *gamehallv1.RoomShard, gs *agonesv1.GameServer) {
	st := &shard.Status
	st.GameServer = gs.Name
	st.State = string(gs.Status.State)
	if st.State == "" {
		st.State = statePending
	}
	st.Address = gs.Status.Address
	st.Port = 0
	for _, p := range gs.Status.Ports {
		if p.Name == PlayersPortName {
			st.Port = p.Port
		}
	}
	st.InternalAddress, st.InternalPort = "", 0
	for _, a := range gs.Status.Addresses {
		if a.Type == "PodIP" {
			st.InternalAddress, st.InternalPort = a.Address, InternalPort
		}
	}
	players := gs.Status.Counters[CounterPlayers].Count
	rooms, full, reported := roomsOf(shard, gs.Annotations)
	if players != st.Players || !equality.Semantic.DeepEqual(rooms, st.RoomList) || st.LastReportTime == nil {
		if _, counted := gs.Status.Counters[CounterPlayers]; counted || rooms != nil {
			t := metav1.NewTime(time.Now())
			st.LastReportTime = &t
		}
	}
	st.Players, st.RoomList, st.FullRooms = players, rooms, full
	st.TemplateHash = gs.Labels[gamehallv1.LabelTemplateHash]
	meta.SetStatusCondition(&st.Conditions, reported)
}

func (r *RoomShardReconciler) clearMirror(shard *gamehallv1.RoomShard, state string) {
	st := &shard.Status
	st.State, st.Address, st.Port, st.InternalAddress, st.InternalPort, st.Players = state, "", 0, "", 0, 0
	st.TemplateHash = ""
	st.RoomList, st.FullRooms = nil, 0
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: gamehallv1.ConditionRoomsReported, Status: metav1.ConditionFalse,
		Reason: gamehallv1.ReasonNoRoomReport, Message: "no game server runs the shard's rooms", ObservedGeneration: shard.Generation})
}

func setReady(shard *gamehallv1.RoomShard, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&shard.Status.Conditions, metav1.Condition{
		Type: gamehallv1.ConditionReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: shard.Generation,
	})
}

// SetupWithManager watches RoomShards, the GameServers they control, and the
// Regions and Halls a shard's GameServer is made from (a fixed template or a
// Hall that now lists the Region retries a create that could not be made).
func (r *RoomShardReconciler) SetupWithManager(mgr ctrl.Manager) error {
	specOrLabels := builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))
	return ctrl.NewControllerManagedBy(mgr).
		For(&gamehallv1.RoomShard{}).
		Watches(&agonesv1.GameServer{}, gameServerEvents()).
		Watches(&gamehallv1.Region{}, handler.EnqueueRequestsFromMapFunc(r.waitingShards), specOrLabels).
		Watches(&gamehallv1.Hall{}, handler.EnqueueRequestsFromMapFunc(r.waitingShards),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Named("roomshard").
		Complete(r)
}

// waitingShards are the shards of o's namespace (of o's Region, when o is a
// Region) that could not create their GameServer: the rest keep theirs.
func (r *RoomShardReconciler) waitingShards(ctx context.Context, o client.Object) []reconcile.Request {
	var list gamehallv1.RoomShardList
	opts := []client.ListOption{client.InNamespace(o.GetNamespace())}
	if _, ok := o.(*gamehallv1.Region); ok {
		opts = append(opts, client.MatchingFields{IndexRoomShardRegion: o.GetName()})
	}
	if err := r.List(ctx, &list, opts...); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, s := range list.Items {
		c := meta.FindStatusCondition(s.Status.Conditions, gamehallv1.ConditionReady)
		if c == nil {
			continue
		}
		switch c.Reason {
		case gamehallv1.ReasonInvalidPodTemplate, gamehallv1.ReasonNoHall, gamehallv1.ReasonConflictingHalls:
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&s)})
		}
	}
	return reqs
}
