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

// D1: a Region no Hall lists starts no shard and says what to set; the
// Hall that lists it gives the shards its Redis and signing keys; a second
// Hall that disagrees stops new shards and leaves the running one alone;
// once the Halls agree, the Region scales again.
func TestRegionInheritsFromHall(t *testing.T) {
	ctx, ns, g := setupWithoutHall(t)
	agones(ctx, t, ns)
	g.Expect(env.Client.Create(ctx, region(ns, "south", 1, 3, time.Minute))).To(Succeed())
	hallCond := func(g Gomega) (gamehallv1.Region, metav1.Condition) {
		var r gamehallv1.Region
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "south"}, &r)).To(Succeed())
		return r, condition(r.Status.Conditions, gamehallv1.ConditionHallSelected)
	}
	g.Eventually(func(g Gomega) {
		r, c := hallCond(g)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonNoHall))
		g.Expect(c.Message).To(ContainSubstring(`no Hall in namespace "` + ns + `" lists this Region (labels "gamehall.dev/game=doudizhu")`))
		g.Expect(condition(r.Status.Conditions, gamehallv1.ConditionReady).Reason).To(Equal(gamehallv1.ReasonNoHall))
		g.Expect(r.Status.DesiredShards).To(Equal(int32(1)))
		g.Expect(r.Status.Hall).To(BeEmpty())
	}).Should(Succeed())
	// The reconcile that wrote the condition decided not to create.
	g.Expect(shardIndexes(ctx, g, ns, "south")).To(BeEmpty())

	// A Hall lists it: shard 0 starts with that Hall's settings.
	a := hallFor(ns, "a", "ra:6379", "keys-a", map[string]string{"gamehall.dev/game": "doudizhu"})
	g.Expect(env.Client.Create(ctx, a)).To(Succeed())
	gs := gameServerOf(ctx, g, ns, ShardName("south", 0))
	g.Expect(gs.Spec.Template.Spec.Containers[0].Env).To(ContainElement(envVar("GAMEHALL_REDIS", "ra:6379")))
	g.Expect(gs.Spec.Template.Spec.Volumes).To(ContainElement(HaveField("Secret.SecretName", "keys-a")))
	g.Eventually(func(g Gomega) {
		r, c := hallCond(g)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonSelectedByHall))
		g.Expect(r.Status.Hall).To(Equal("a"))
	}).Should(Succeed())

	// A second Hall, listing every Region, with another Redis: no new
	// shards, the running one keeps its GameServer.
	b := hallFor(ns, "b", "rb:6379", "keys-a", nil)
	g.Expect(env.Client.Create(ctx, b)).To(Succeed())
	g.Eventually(func(g Gomega) {
		_, c := hallCond(g)
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonConflictingHalls))
		g.Expect(c.Message).To(ContainSubstring(`Halls "a" and "b" both list this Region with different settings (presence.redisAddress "ra:6379" vs "rb:6379")`))
	}).Should(Succeed())
	setPlayers(ctx, g, ns, ShardName("south", 0), 15)
	g.Eventually(func(g Gomega) {
		r, c := hallCond(g)
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonConflictingHalls))
		g.Expect(r.Status.Players).To(Equal(int64(15)))
		g.Expect(r.Status.DesiredShards).To(Equal(int32(2)))
	}).Should(Succeed())
	g.Expect(shardIndexes(ctx, g, ns, "south")).To(ConsistOf(int32(0)))
	var still agonesv1.GameServer
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(gs), &still)).To(Succeed())
	g.Expect(still.UID).To(Equal(gs.UID))

	// The Halls agree: shard 1 starts, from Hall a (first by name).
	g.Eventually(func(g Gomega) { // the Hall controller writes b's status meanwhile: retry a conflict
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
		b.Spec.Presence.RedisAddress = "ra:6379"
		g.Expect(env.Client.Update(ctx, b)).To(Succeed())
	}).Should(Succeed())
	gs1 := gameServerOf(ctx, g, ns, ShardName("south", 1))
	g.Expect(gs1.Spec.Template.Spec.Containers[0].Env).To(ContainElement(envVar("GAMEHALL_REDIS", "ra:6379")))
}

// A shard whose GameServer must be made while no Hall lists its Region waits
// with a Ready condition that says why, and starts once a Hall appears.
func TestRoomShardWaitsForHall(t *testing.T) {
	ctx, ns, g := setupWithoutHall(t)
	agones(ctx, t, ns)
	rg := region(ns, "lone", 0, 1, time.Second)
	s := newRoomShard(rg, 0)
	g.Expect(env.Client.Create(ctx, s)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
		c := condition(s.Status.Conditions, gamehallv1.ConditionReady)
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonNoHall))
		g.Expect(c.Message).To(HavePrefix("cannot start a GameServer: no Hall"))
		g.Expect(s.Status.State).To(Equal(statePending))
	}).Should(Succeed())
	g.Expect(env.Client.Create(ctx, hallFor(ns, "main", "", "keys", nil))).To(Succeed())
	gameServerOf(ctx, g, ns, s.Name)
}

func hallFor(ns, name, redis, keys string, sel map[string]string) *gamehallv1.Hall {
	h := &gamehallv1.Hall{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: gamehallv1.HallSpec{Login: gamehallv1.LoginSpec{SigningKeySecretName: keys + "-signing", VerificationKeySecretName: keys, Guest: true}, Presence: gamehallv1.PresenceSpec{RedisAddress: redis}}}
	if sel != nil {
		h.Spec.RegionSelector = &metav1.LabelSelector{MatchLabels: sel}
	}
	return h
}
