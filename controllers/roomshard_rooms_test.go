package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/gameserver/roomreport"
)

func TestRoomsOf(t *testing.T) {
	shard := newRoomShard(region("ns", "r", 0, 1, time.Second), 3) // rooms 7-8 of 10 seats
	tests := []struct {
		name       string
		ann        map[string]string
		want       []gamehallv1.RoomStatus
		wantFull   int32
		wantReason string
		msgHas     string
	}{
		{name: "no report yet", wantReason: gamehallv1.ReasonNoRoomReport, msgHas: "has not reported its rooms yet"},
		{name: "a full and an open room", ann: map[string]string{roomreport.Annotation: `{"firstRoom":7,"capacity":10,"players":[10,3]}`},
			want:     []gamehallv1.RoomStatus{{Room: 7, Players: 10, Capacity: 10, State: gamehallv1.RoomFull}, {Room: 8, Players: 3, Capacity: 10, State: gamehallv1.RoomOpen}},
			wantFull: 1, wantReason: gamehallv1.ReasonRoomsReported},
		{name: "not JSON", ann: map[string]string{roomreport.Annotation: `7:10,3`}, wantReason: gamehallv1.ReasonInvalidRoomReport, msgHas: "not a JSON object"},
		{name: "over capacity", ann: map[string]string{roomreport.Annotation: `{"firstRoom":7,"capacity":10,"players":[11,3]}`},
			wantReason: gamehallv1.ReasonInvalidRoomReport, msgHas: "room 7 has 11 players, outside 0..10"},
		{name: "another shard's rooms", ann: map[string]string{roomreport.Annotation: `{"firstRoom":1,"capacity":10,"players":[0,0]}`},
			wantReason: gamehallv1.ReasonInvalidRoomReport, msgHas: "the report covers rooms 1-2, the shard rooms 7-8"},
		{name: "too few rooms", ann: map[string]string{roomreport.Annotation: `{"firstRoom":7,"capacity":10,"players":[0]}`},
			wantReason: gamehallv1.ReasonInvalidRoomReport, msgHas: "covers rooms 7-7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			list, full, cond := roomsOf(shard, tt.ann)
			g.Expect(list).To(Equal(tt.want))
			g.Expect(full).To(Equal(tt.wantFull))
			g.Expect(cond.Type).To(Equal(gamehallv1.ConditionRoomsReported))
			g.Expect(cond.Reason).To(Equal(tt.wantReason))
			g.Expect(cond.Status == metav1.ConditionTrue).To(Equal(tt.wantReason == gamehallv1.ReasonRoomsReported))
			g.Expect(cond.Message).To(ContainSubstring(tt.msgHas))
		})
	}
}

// recordingQueue notes how the handler queues: at once or after a delay.
type recordingQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	now, later []string
}

func (q *recordingQueue) Add(r reconcile.Request) { q.now = append(q.now, r.Name) }
func (q *recordingQueue) AddAfter(r reconcile.Request, _ time.Duration) {
	q.later = append(q.later, r.Name)
}

// A GameServer change that is only a report (counters, the room annotation)
// waits ReportBatch so that both writes of one report fold into one
// RoomShard status write; any other change is seen at once.
func TestGameServerEventsFoldReports(t *testing.T) {
	g := NewWithT(t)
	shard := newRoomShard(region("ns", "r", 0, 1, time.Second), 0)
	shard.UID = "u1"
	gs, err := GameServerFor(shard, TemplateFor(region("ns", "r", 0, 1, time.Second), testSettings, ""), 0)
	g.Expect(err).NotTo(HaveOccurred())
	gs.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(shard, gamehallv1.GroupVersion.WithKind("RoomShard"))}
	gs.Status = agonesv1.GameServerStatus{State: agonesv1.GameServerStateReady, Address: "10.0.0.1",
		Counters: map[string]agonesv1.CounterStatus{CounterPlayers: {Count: 0, Capacity: 20}}}
	change := func(f func(*agonesv1.GameServer)) *agonesv1.GameServer {
		n := gs.DeepCopy()
		n.ResourceVersion = "2"
		f(n)
		return n
	}
	tests := []struct {
		name  string
		new   *agonesv1.GameServer
		later bool
	}{
		{"players counter", change(func(n *agonesv1.GameServer) {
			n.Status.Counters[CounterPlayers] = agonesv1.CounterStatus{Count: 5, Capacity: 20}
		}), true},
		{"room report", change(func(n *agonesv1.GameServer) { n.Annotations[roomreport.Annotation] = `{}` }), true},
		{"state", change(func(n *agonesv1.GameServer) { n.Status.State = agonesv1.GameServerStateUnhealthy }), false},
		{"drain label", change(func(n *agonesv1.GameServer) { n.Labels[gamehallv1.LabelDraining] = "true" }), false},
		{"address", change(func(n *agonesv1.GameServer) { n.Status.Address = "10.0.0.2" }), false},
		{"being deleted", change(func(n *agonesv1.GameServer) { n.DeletionTimestamp = &metav1.Time{Time: time.Now()} }), false},
	}
	h := gameServerEvents()
	for _, tt := range tests {
		q := &recordingQueue{}
		h.Update(context.Background(), ctrlevent.UpdateEvent{ObjectOld: gs, ObjectNew: tt.new}, q)
		if tt.later {
			g.Expect(q.later).To(Equal([]string{shard.Name}), tt.name)
			g.Expect(q.now).To(BeEmpty(), tt.name)
		} else {
			g.Expect(q.now).To(Equal([]string{shard.Name}), tt.name)
			g.Expect(q.later).To(BeEmpty(), tt.name)
		}
	}
	// Not ours: ignored.
	q := &recordingQueue{}
	other := gs.DeepCopy()
	other.OwnerReferences = nil
	h.Create(context.Background(), ctrlevent.CreateEvent{Object: other}, q)
	g.Expect(q.now).To(BeEmpty())
}

// The game server's report reaches the RoomShard: its rooms, how many are
// full, the players counter, and RoomsReported.
func TestRoomShardMirrorsRoomReport(t *testing.T) {
	ctx, ns, g := setup(t)
	agones(ctx, t, ns)
	g.Expect(env.Client.Create(ctx, region(ns, "south", 1, 1, time.Minute))).To(Succeed())
	name := ShardName("south", 0)
	var s gamehallv1.RoomShard
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s)).To(Succeed())
		g.Expect(s.Status.State).To(Equal("Ready"))
		g.Expect(condition(s.Status.Conditions, gamehallv1.ConditionRoomsReported).Reason).To(Equal(gamehallv1.ReasonNoRoomReport))
	}).Should(Succeed())

	report(ctx, g, ns, name, roomreport.Report{FirstRoom: 1, Capacity: 10, Players: []int32{10, 4}})
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s)).To(Succeed())
		g.Expect(s.Status.Players).To(Equal(int64(14)))
		g.Expect(s.Status.FullRooms).To(Equal(int32(1)))
		g.Expect(s.Status.RoomList).To(Equal([]gamehallv1.RoomStatus{
			{Room: 1, Players: 10, Capacity: 10, State: gamehallv1.RoomFull}, {Room: 2, Players: 4, Capacity: 10, State: gamehallv1.RoomOpen}}))
		g.Expect(condition(s.Status.Conditions, gamehallv1.ConditionRoomsReported).Status).To(Equal(metav1.ConditionTrue))
	}).Should(Succeed())

	// A report the operator cannot use empties the list and says why.
	report(ctx, g, ns, name, roomreport.Report{FirstRoom: 3, Capacity: 10, Players: []int32{1, 1}})
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s)).To(Succeed())
		c := condition(s.Status.Conditions, gamehallv1.ConditionRoomsReported)
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonInvalidRoomReport))
		g.Expect(c.Message).To(ContainSubstring("the report covers rooms 3-4, the shard rooms 1-2"))
		g.Expect(s.Status.RoomList).To(BeEmpty())
		g.Expect(s.Status.FullRooms).To(BeZero())
	}).Should(Succeed())
}

// report is the game server's report through the SDK: the players counter,
// then the room annotation, two GameServer writes as in the Agones sidecar.
func report(ctx context.Context, g Gomega, ns, shard string, r roomreport.Report) {
	var players int64
	for _, n := range r.Players {
		players += int64(n)
	}
	g.Eventually(func(g Gomega) {
		gs := gameServerOf(ctx, g, ns, shard)
		patch := client.MergeFrom(gs.DeepCopy())
		c := gs.Status.Counters[CounterPlayers]
		c.Count = players
		gs.Status.Counters[CounterPlayers] = c
		g.Expect(env.Client.Patch(ctx, gs, patch)).To(Succeed())
		patch = client.MergeFrom(gs.DeepCopy())
		gs.Annotations[roomreport.Annotation] = r.Encode()
		g.Expect(env.Client.Patch(ctx, gs, patch)).To(Succeed())
	}).Should(Succeed())
}
