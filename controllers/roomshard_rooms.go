package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/gameserver/roomreport"
)

// roomsOf turns the room report a GameServer carries (its annotation
// roomreport.Annotation, written by the game server through the Agones SDK)
// into the shard's room list, its count of full rooms, and the
// RoomsReported condition. The report is the game server's word, so it is
// checked against the shard's spec: the same first room and room count.
func roomsOf(shard *gamehallv1.RoomShard, annotations map[string]string) ([]gamehallv1.RoomStatus, int32, metav1.Condition) {
	cond := metav1.Condition{Type: gamehallv1.ConditionRoomsReported, ObservedGeneration: shard.Generation}
	raw, ok := annotations[roomreport.Annotation]
	if !ok {
		cond.Status, cond.Reason = metav1.ConditionFalse, gamehallv1.ReasonNoRoomReport
		cond.Message = fmt.Sprintf("the game server has not reported its rooms yet (annotation %s)", roomreport.Annotation)
		return nil, 0, cond
	}
	rep, err := roomreport.Parse(raw)
	if err == nil && (rep.FirstRoom != shard.Spec.FirstRoom || len(rep.Players) != int(shard.Spec.Rooms)) {
		err = fmt.Errorf("the report covers rooms %d-%d, the shard rooms %d-%d",
			rep.FirstRoom, int(rep.FirstRoom)+len(rep.Players)-1, shard.Spec.FirstRoom, shard.LastRoom())
	}
	if err != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, gamehallv1.ReasonInvalidRoomReport, err.Error()
		return nil, 0, cond
	}
	list := make([]gamehallv1.RoomStatus, len(rep.Players))
	var full int32
	for i, n := range rep.Players {
		st := gamehallv1.RoomOpen
		if n >= rep.Capacity {
			st = gamehallv1.RoomFull
			full++
		}
		list[i] = gamehallv1.RoomStatus{Room: rep.FirstRoom + int32(i), Players: n, Capacity: rep.Capacity, State: st}
	}
	cond.Status, cond.Reason = metav1.ConditionTrue, gamehallv1.ReasonRoomsReported
	cond.Message = "status.roomList is the game server's last report"
	return list, full, cond
}

// ReportBatch is how long a RoomShard waits after its GameServer changed
// only in what the game server reports (counters, the room report) before it
// looks: one report is two GameServer writes (the players counter and the
// room annotation, separate updates in the Agones sidecar), and both must
// fold into one RoomShard status write. Lifecycle changes (state, address,
// labels, deletion) are seen at once.
const ReportBatch = time.Second

// gameServerEvents queues a GameServer's controlling RoomShard.
func gameServerEvents() handler.Funcs {
	owner := func(o client.Object) (reconcile.Request, bool) {
		ref := metav1.GetControllerOf(o)
		if ref == nil || ref.Kind != "RoomShard" || ref.APIVersion != gamehallv1.GroupVersion.String() {
			return reconcile.Request{}, false
		}
		return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: ref.Name}}, true
	}
	add := func(o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		if req, ok := owner(o); ok {
			q.Add(req)
		}
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e ctrlevent.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(e.Object, q)
		},
		DeleteFunc: func(_ context.Context, e ctrlevent.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(e.Object, q)
		},
		GenericFunc: func(_ context.Context, e ctrlevent.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(e.Object, q)
		},
		UpdateFunc: func(_ context.Context, e ctrlevent.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			req, ok := owner(e.ObjectNew)
			if !ok {
				return
			}
			oldGS, okOld := e.ObjectOld.(*agonesv1.GameServer)
			newGS, okNew := e.ObjectNew.(*agonesv1.GameServer)
			if okOld && okNew && reportOnly(oldGS, newGS) {
				q.AddAfter(req, ReportBatch) // the delaying queue keeps one entry per key
				return
			}
			q.Add(req)
		},
	}
}

// reportOnly is whether a and b differ only in what the game server reports.
func reportOnly(a, b *agonesv1.GameServer) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	for _, gs := range []*agonesv1.GameServer{a, b} {
		gs.ResourceVersion, gs.ManagedFields, gs.Status.Counters = "", nil, nil
		delete(gs.Annotations, roomreport.Annotation)
	}
	return equality.Semantic.DeepEqual(a, b)
}
