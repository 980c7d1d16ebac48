package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// 0 → N shards as players arrive, then drains back to min as they leave:
// the emptiest shard first (ties: highest index), each drained empty shard
// removed with its GameServer.
func TestRegionScalesUpAndDrainsBack(t *testing.T) {
	ctx, ns, g := setup(t)
	agones(ctx, t, ns)
	rg := region(ns, "south", 1, 5, time.Second)
	g.Expect(env.Client.Create(ctx, rg)).To(Succeed())

	// min 1: shard 0 with its GameServer, env and counters.
	gs := gameServerOf(ctx, g, ns, ShardName("south", 0))
	g.Expect(gs.Labels).To(HaveKeyWithValue(gamehallv1.LabelRegion, "south"))
	g.Expect(gs.Labels).To(HaveKeyWithValue(gamehallv1.LabelShardIndex, "0"))
	g.Expect(gs.Spec.Counters).To(HaveKeyWithValue(CounterPlayers, agonesv1.CounterStatus{Count: 0, Capacity: 20}))
	g.Expect(gs.Spec.Counters).To(HaveLen(1), "rooms travel in the room report annotation")
	g.Expect(gs.Spec.Ports).To(HaveLen(1))
	g.Expect(gs.Spec.Ports[0].ContainerPort).To(Equal(int32(PlayersPort)))
	g.Expect(gs.Spec.Ports[0].Protocol).To(BeEquivalentTo("TCP"))
	vars := map[string]string{}
	for _, e := range gs.Spec.Template.Spec.Containers[0].Env {
		vars[e.Name] = e.Value
	}
	g.Expect(vars).To(Equal(map[string]string{
		"GAMEHALL_SHARD": "south-0", "GAMEHALL_REGION": "south", "GAMEHALL_GAME": "doudizhu",
		"GAMEHALL_FIRST_ROOM": "1", "GAMEHALL_ROOMS": "2", "GAMEHALL_ROOM_CAPACITY": "10",
		"GAMEHALL_TABLES_PER_ROOM": "3", "GAMEHALL_PORT": "7000", "GAMEHALL_INTERNAL_PORT": "7001",
		"GAMEHALL_VERIFICATION_KEYS": VerificationKeysDir, "GAMEHALL_REDIS": testSettings.RedisAddress,
	}))

	g.Eventually(func(g Gomega) {
		var r gamehallv1.Region
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "south"}, &r)).To(Succeed())
		g.Expect(r.Status.ReadyShards).To(Equal(int32(1)))
		g.Expect(condition(r.Status.Conditions, gamehallv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(r.Status.Selector).To(Equal("gamehall.dev/region=south"))
	}).Should(Succeed())

	// Players arrive: 15 on shard 0 need 2 shards, 29 need 3, 38 need 4.
	setPlayers(ctx, g, ns, ShardName("south", 0), 15)
	g.Eventually(func() []int32 { return shardIndexes(ctx, g, ns, "south") }).Should(ConsistOf(int32(0), int32(1)))
	setPlayers(ctx, g, ns, ShardName("south", 1), 14)
	g.Eventually(func() []int32 { return shardIndexes(ctx, g, ns, "south") }).Should(ConsistOf(int32(0), int32(1), int32(2)))
	setPlayers(ctx, g, ns, ShardName("south", 2), 9)
	g.Eventually(func() []int32 { return shardIndexes(ctx, g, ns, "south") }).Should(ConsistOf(int32(0), int32(1), int32(2), int32(3)))

	var s3 gamehallv1.RoomShard
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, shardKey(ns, "south", 3), &s3)).To(Succeed())
		g.Expect(s3.Status.State).To(Equal("Ready"))
		g.Expect(s3.Status.Address).To(Equal("127.0.0.1"))
		g.Expect(s3.Status.Port).NotTo(BeZero())
		g.Expect(s3.Status.InternalPort).To(Equal(int32(InternalPort)))
		g.Expect(s3.Status.Rooms).To(Equal("7-8"))
		g.Expect(s3.Status.Capacity).To(Equal(int64(20)))
		g.Expect(s3.Spec.FirstRoom).To(Equal(int32(7)))
	}).Should(Succeed())
	g.Eventually(func(g Gomega) {
		var r gamehallv1.Region
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "south"}, &r)).To(Succeed())
		g.Expect(r.Status.Shards).To(Equal(int32(4)))
		g.Expect(r.Status.ReadyShards).To(Equal(int32(4)))
		g.Expect(r.Status.DesiredShards).To(Equal(int32(4)))
		g.Expect(r.Status.Players).To(Equal(int64(38)))
		g.Expect(r.Status.Capacity).To(Equal(int64(80)))
		g.Expect(r.Status.Occupancy).To(Equal("47%"))
	}).Should(Succeed())
	g.Expect(eventNotes(ctx, g, ns, "south", EventShardCreated)).To(HaveLen(4))

	// Everyone leaves shards 0 and 2: 14 on shard 1 need 2 shards. Drained:
	// the emptiest with the highest index, 3, then 2 (0 stays: lower index).
	setPlayers(ctx, g, ns, ShardName("south", 0), 0)
	setPlayers(ctx, g, ns, ShardName("south", 2), 0)
	g.Eventually(func() []int32 { return shardIndexes(ctx, g, ns, "south") }).Should(ConsistOf(int32(0), int32(1)))
	g.Expect(eventNotes(ctx, g, ns, "south", EventShardDraining)).To(HaveLen(2))
	g.Expect(eventNotes(ctx, g, ns, "south", EventShardDeleted)).To(HaveLen(2))
	// The removed shards' GameServers are gone too (no garbage collector here:
	// the shard's finalizer did it).
	var gsl agonesv1.GameServerList
	g.Expect(env.Client.List(ctx, &gsl)).To(Succeed())
	for _, gs := range gsl.Items {
		if gs.Namespace == ns {
			g.Expect(gs.Labels[gamehallv1.LabelShardIndex]).To(BeElementOf("0", "1"))
		}
	}

	// The last players leave: back to min 1, keeping shard 0.
	setPlayers(ctx, g, ns, ShardName("south", 1), 0)
	g.Eventually(func() []int32 { return shardIndexes(ctx, g, ns, "south") }).Should(ConsistOf(int32(0)))
}

// A draining shard with players is never deleted; load arriving un-drains it
// rather than creating a new shard; once empty it is removed.
func TestRegionDrainsSafely(t *testing.T) {
	ctx, ns, g := setup(t)
	agones(ctx, t, ns)
	g.Expect(env.Client.Create(ctx, region(ns, "east", 1, 3, time.Second))).To(Succeed())
	setPlayers(ctx, g, ns, ShardName("east", 0), 15)
	g.Eventually(func() []int32 { return shardIndexes(ctx, g, ns, "east") }).Should(ConsistOf(int32(0), int32(1)))
	// 5 + 3 players need one shard: shard 1 (3 players, the emptiest) drains.
	setPlayers(ctx, g, ns, ShardName("east", 1), 3)
	setPlayers(ctx, g, ns, ShardName("east", 0), 5)
	var s1 gamehallv1.RoomShard
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, shardKey(ns, "east", 1), &s1)).To(Succeed())
		g.Expect(s1.Spec.Draining).To(BeTrue())
		g.Expect(s1.Spec.DrainStartTime).NotTo(BeNil())
		g.Expect(condition(s1.Status.Conditions, gamehallv1.ConditionDraining).Reason).To(Equal(gamehallv1.ReasonDrainConfirmed))
		var gs agonesv1.GameServer
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: s1.Status.GameServer}, &gs)).To(Succeed())
		g.Expect(gs.Labels).To(HaveKeyWithValue(gamehallv1.LabelDraining, "true"))
	}).Should(Succeed())
	g.Eventually(func(g Gomega) {
		var r gamehallv1.Region
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "east"}, &r)).To(Succeed())
		g.Expect(r.Status.DrainingShards).To(Equal(int32(1)))
		g.Expect(r.Status.Capacity).To(Equal(int64(20))) // draining shards are no capacity
		g.Expect(r.Status.Players).To(Equal(int64(8)))
	}).Should(Succeed())

	// Occupied: it stays, however long past the delay.
	g.Consistently(func() bool { return gone(ctx, &s1)() }).Should(BeFalse())

	// Load comes back: 18 players need 2 shards: shard 1 is un-drained, no shard 2.
	setPlayers(ctx, g, ns, ShardName("east", 0), 15)
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, shardKey(ns, "east", 1), &s1)).To(Succeed())
		g.Expect(s1.Spec.Draining).To(BeFalse())
		var gs agonesv1.GameServer
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: s1.Status.GameServer}, &gs)).To(Succeed())
		g.Expect(gs.Labels).NotTo(HaveKey(gamehallv1.LabelDraining))
	}).Should(Succeed())
	g.Expect(shardIndexes(ctx, g, ns, "east")).To(ConsistOf(int32(0), int32(1)))
	g.Expect(eventNotes(ctx, g, ns, "east", EventShardUndrained)).To(HaveLen(1))

	// Load drops again; shard 1 drains and, once its last player leaves, goes.
	setPlayers(ctx, g, ns, ShardName("east", 0), 5)
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, shardKey(ns, "east", 1), &s1)).To(Succeed())
		g.Expect(s1.Spec.Draining).To(BeTrue())
	}).Should(Succeed())
	gsName := s1.Status.GameServer
	setPlayers(ctx, g, ns, ShardName("east", 1), 0)
	g.Eventually(gone(ctx, &s1)).Should(BeTrue())
	g.Eventually(gone(ctx, &agonesv1.GameServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: gsName}})).Should(BeTrue())
	g.Expect(shardIndexes(ctx, g, ns, "east")).To(ConsistOf(int32(0)))
}

// With a drain timeout, an occupied draining shard is deleted when it expires
// and a Warning event says how many players were cut off.
func TestRegionDrainTimeout(t *testing.T) {
	ctx, ns, g := setup(t)
	agones(ctx, t, ns)
	rg := region(ns, "west", 1, 3, time.Second)
	rg.Spec.Scaling.DrainTimeout = &metav1.Duration{Duration: 2 * time.Second}
	g.Expect(env.Client.Create(ctx, rg)).To(Succeed())
	setPlayers(ctx, g, ns, ShardName("west", 0), 15)
	g.Eventually(func() []int32 { return shardIndexes(ctx, g, ns, "west") }).Should(ConsistOf(int32(0), int32(1)))
	setPlayers(ctx, g, ns, ShardName("west", 1), 3)
	setPlayers(ctx, g, ns, ShardName("west", 0), 5)
	g.Eventually(func() []int32 { return shardIndexes(ctx, g, ns, "west") }).Should(ConsistOf(int32(0)))
	g.Eventually(func() []string { return eventNotes(ctx, g, ns, "west", EventDrainTimeoutExpired) }).Should(
		ConsistOf(And(HavePrefix("Warning: "), ContainSubstring("3 players were cut off"), ContainSubstring("rooms 3-4"))))
}

// At max shards with occupancy above target: ScalingLimited.
func TestRegionScalingLimited(t *testing.T) {
	ctx, ns, g := setup(t)
	agones(ctx, t, ns)
	g.Expect(env.Client.Create(ctx, region(ns, "north", 1, 1, time.Second))).To(Succeed())
	setPlayers(ctx, g, ns, ShardName("north", 0), 12)
	g.Eventually(func(g Gomega) {
		var r gamehallv1.Region
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "north"}, &r)).To(Succeed())
		c := condition(r.Status.Conditions, gamehallv1.ConditionScalingLimited)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonAtMaxShards))
		g.Expect(r.Status.Occupancy).To(Equal("60%"))
	}).Should(Succeed())
	g.Expect(shardIndexes(ctx, g, ns, "north")).To(ConsistOf(int32(0)))
	setPlayers(ctx, g, ns, ShardName("north", 0), 10)
	g.Eventually(func(g Gomega) {
		var r gamehallv1.Region
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "north"}, &r)).To(Succeed())
		c := condition(r.Status.Conditions, gamehallv1.ConditionScalingLimited)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonWithinLimits))
	}).Should(Succeed())
}

// The drain is a conversation with the game server, never a count read off
// the API: a shard marked draining with 0 players reported is not deleted in
// the same pass (nor later) until its game server confirmed the drain and,
// empty, shut itself down. A player could be entering at that very moment;
// only the game server knows.
func TestRegionDeletesOnlyShardsThatDrainedThemselves(t *testing.T) {
	ctx, ns, g := setup(t)
	agonesOnly(ctx, t, ns) // the test plays the game servers
	g.Expect(env.Client.Create(ctx, region(ns, "quiet", 1, 3, time.Second))).To(Succeed())
	setPlayers(ctx, g, ns, ShardName("quiet", 0), 15)
	g.Eventually(func() []int32 { return shardIndexes(ctx, g, ns, "quiet") }).Should(ConsistOf(int32(0), int32(1)))
	gameServerOf(ctx, g, ns, ShardName("quiet", 1))
	setPlayers(ctx, g, ns, ShardName("quiet", 0), 5) // shard 1 (0 players) is not needed

	var s1 gamehallv1.RoomShard
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, shardKey(ns, "quiet", 1), &s1)).To(Succeed())
		g.Expect(s1.Spec.Draining).To(BeTrue())
		g.Expect(condition(s1.Status.Conditions, gamehallv1.ConditionDraining).Reason).To(Equal(gamehallv1.ReasonDrainRequested))
	}).Should(Succeed())
	// Reported empty, but unconfirmed: it stays, with its GameServer.
	g.Consistently(func() bool { return gone(ctx, s1.DeepCopy())() }).Should(BeFalse())
	gs := gameServerOf(ctx, g, ns, s1.Name)
	g.Expect(gs.Labels).To(HaveKeyWithValue(gamehallv1.LabelDraining, "true"))

	// The game server confirms: still running, so it still stays.
	patch := client.MergeFrom(gs.DeepCopy())
	gs.Labels[gamehallv1.LabelDrainConfirmed] = "true"
	g.Expect(env.Client.Patch(ctx, gs, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, shardKey(ns, "quiet", 1), &s1)).To(Succeed())
		c := condition(s1.Status.Conditions, gamehallv1.ConditionDraining)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonDrainConfirmed))
	}).Should(Succeed())
	g.Consistently(func() bool { return gone(ctx, s1.DeepCopy())() }).Should(BeFalse())

	// Empty and drained, it shuts down (Agones then deletes its GameServer):
	// now the shard goes.
	gs = gameServerOf(ctx, g, ns, s1.Name)
	patch = client.MergeFrom(gs.DeepCopy())
	gs.Status.State = agonesv1.GameServerStateShutdown
	g.Expect(env.Client.Patch(ctx, gs, patch)).To(Succeed())
	g.Eventually(gone(ctx, &s1)).Should(BeTrue())
	g.Eventually(gone(ctx, gs)).Should(BeTrue())
	g.Expect(eventNotes(ctx, g, ns, "quiet", EventShardDeleted)).To(ConsistOf(ContainSubstring("drained and shut down")))
	g.Expect(eventNotes(ctx, g, ns, s1.Name, EventGameServerReplaced)).To(BeEmpty())
}

// The Region's drainTimeout reaches the game server as a deadline on its
// GameServer (drainStartTime + drainTimeout); with none set there is no
// deadline and the game server waits for its last player.
func TestDrainDeadlineReachesGameServer(t *testing.T) {
	ctx, ns, g := setup(t)
	agonesOnly(ctx, t, ns) // no game server shuts down: the shards stay to be looked at
	rg := region(ns, "dl", 2, 2, time.Second)
	rg.Spec.Scaling.DrainTimeout = &metav1.Duration{Duration: time.Hour}
	g.Expect(env.Client.Create(ctx, rg)).To(Succeed())
	nodl := region(ns, "nodl", 2, 2, time.Second)
	g.Expect(env.Client.Create(ctx, nodl)).To(Succeed())
	for _, name := range []string{"dl", "nodl"} {
		setPlayers(ctx, g, ns, ShardName(name, 1), 3) // keeps it from shutting down once drained
		var r gamehallv1.Region
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &r)).To(Succeed())
		patch := client.MergeFrom(r.DeepCopy())
		r.Spec.MinShards = 1
		g.Expect(env.Client.Patch(ctx, &r, patch)).To(Succeed())
	}
	for name, want := range map[string]bool{"dl": true, "nodl": false} {
		var s gamehallv1.RoomShard
		g.Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, shardKey(ns, name, 0), &s)).To(Succeed()) // the emptiest drains
			g.Expect(s.Spec.Draining).To(BeTrue())
			var gs agonesv1.GameServer
			g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: s.Status.GameServer}, &gs)).To(Succeed())
			g.Expect(gs.Labels).To(HaveKeyWithValue(gamehallv1.LabelDraining, "true"))
			if !want {
				g.Expect(gs.Annotations).NotTo(HaveKey(gamehallv1.AnnotationDrainDeadline))
				return
			}
			g.Expect(gs.Annotations).To(HaveKeyWithValue(gamehallv1.AnnotationDrainDeadline,
				s.Spec.DrainStartTime.Add(time.Hour).UTC().Format(time.RFC3339)))
		}).Should(Succeed(), name)
	}
}
