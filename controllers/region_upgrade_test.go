package controllers

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// A new image in the Region's template: the status counts the outdated
// shards, new shards start first (maxSurge 1), an old one drains only when
// the ready shards left make the desired count, the one with players keeps
// them until they leave, and the Region ends up to date.
func TestRegionUpgradeReplacesShardsWithoutCuttingPlayers(t *testing.T) {
	ctx, ns, g := setup(t)
	agones(ctx, t, ns)
	rg := region(ns, "up", 2, 5, time.Hour)
	g.Expect(env.Client.Create(ctx, rg)).To(Succeed())
	key := types.NamespacedName{Namespace: ns, Name: "up"}
	get := func(g Gomega) gamehallv1.Region {
		var r gamehallv1.Region
		g.Expect(env.Client.Get(ctx, key, &r)).To(Succeed())
		return r
	}
	var v1Hash string
	g.Eventually(func(g Gomega) {
		r := get(g)
		g.Expect(r.Spec.Scaling.MaxSurge).To(Equal(int32(gamehallv1.DefaultMaxSurge)), "defaulted by the API server")
		g.Expect(r.Status.ReadyShards).To(Equal(int32(2)))
		g.Expect(r.Status.UpdatedShards).To(Equal(int32(2)))
		g.Expect(r.Status.OutdatedShards).To(BeZero())
		g.Expect(condition(r.Status.Conditions, gamehallv1.ConditionUpToDate).Reason).To(Equal(gamehallv1.ReasonShardsUpToDate))
		v1Hash = r.Status.TemplateHash
		g.Expect(v1Hash).NotTo(BeEmpty())
	}).Should(Succeed())
	for _, i := range []int32{0, 1} {
		gs := gameServerOf(ctx, g, ns, ShardName("up", i))
		g.Expect(gs.Labels).To(HaveKeyWithValue(gamehallv1.LabelTemplateHash, v1Hash))
	}
	// 3 players on shard 0 (the Region still wants its minimum, 2).
	setPlayers(ctx, g, ns, ShardName("up", 0), 3)

	// From here on, the ready serving shards never fall below 2.
	var dipped atomic.Int32
	dipped.Store(-1)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		for watchCtx.Err() == nil {
			var r gamehallv1.Region
			if env.Client.Get(watchCtx, key, &r) == nil && r.Status.ReadyShards < 2 {
				dipped.Store(r.Status.ReadyShards)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	g.Eventually(func(g Gomega) {
		r := get(g)
		r.Spec.Template.Spec.Containers[0].Image = "gamehall:v2"
		g.Expect(env.Client.Update(ctx, &r)).To(Succeed())
	}).Should(Succeed())

	// The empty old shard is replaced and goes; the one with players drains
	// and keeps its game server (and players) while new shards serve.
	g.Eventually(func(g Gomega) {
		r := get(g)
		g.Expect(r.Status.TemplateHash).NotTo(Equal(v1Hash))
		g.Expect(shardIndexes(ctx, g, ns, "up")).To(ConsistOf(int32(0), int32(2), int32(3)))
		g.Expect(r.Status.OutdatedShards).To(Equal(int32(1)))
		g.Expect(r.Status.UpdatedShards).To(Equal(int32(2)))
		g.Expect(r.Status.ReadyShards).To(Equal(int32(2)))
		g.Expect(r.Status.DrainingShards).To(Equal(int32(1)))
		c := condition(r.Status.Conditions, gamehallv1.ConditionUpToDate)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonRollingUpdate))
		g.Expect(c.Message).To(ContainSubstring("1 of 3 shards run an out-of-date template"))
		var s0 gamehallv1.RoomShard
		g.Expect(env.Client.Get(ctx, shardKey(ns, "up", 0), &s0)).To(Succeed())
		g.Expect(s0.Spec.Draining).To(BeTrue())
		g.Expect(s0.Status.Players).To(Equal(int64(3)))
		g.Expect(s0.Status.TemplateHash).To(Equal(v1Hash))
		for _, i := range []int32{2, 3} {
			var s gamehallv1.RoomShard
			g.Expect(env.Client.Get(ctx, shardKey(ns, "up", i), &s)).To(Succeed())
			g.Expect(s.Status.TemplateHash).To(Equal(r.Status.TemplateHash))
			var gs agonesv1.GameServer
			g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: s.Status.GameServer}, &gs)).To(Succeed())
			g.Expect(gs.Spec.Template.Spec.Containers[0].Image).To(Equal("gamehall:v2"))
		}
	}).Should(Succeed())
	g.Expect(eventNotes(ctx, g, ns, "up", EventShardDraining)).To(ContainElement(ContainSubstring("upgrade: ")))

	// Its players leave: the game server shuts down, the shard goes.
	setPlayers(ctx, g, ns, ShardName("up", 0), 0)
	g.Eventually(func(g Gomega) {
		r := get(g)
		g.Expect(shardIndexes(ctx, g, ns, "up")).To(ConsistOf(int32(2), int32(3)))
		g.Expect(r.Status.OutdatedShards).To(BeZero())
		g.Expect(r.Status.UpdatedShards).To(Equal(int32(2)))
		g.Expect(condition(r.Status.Conditions, gamehallv1.ConditionUpToDate).Reason).To(Equal(gamehallv1.ReasonShardsUpToDate))
	}).Should(Succeed())
	var gss agonesv1.GameServerList
	g.Expect(env.Client.List(ctx, &gss, client.InNamespace(ns))).To(Succeed())
	for _, gs := range gss.Items {
		g.Expect(gs.Spec.Template.Spec.Containers[0].Image).To(Equal("gamehall:v2"), gs.Name)
	}
	stopWatch()
	g.Expect(dipped.Load()).To(Equal(int32(-1)), "ready shards fell below the desired 2 during the upgrade")
}

// The hash changes with what the shards run, and only with that.
func TestShardTemplateHash(t *testing.T) {
	g := NewWithT(t)
	pod := func(image string) *corev1.PodTemplateSpec {
		return &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: GameServerContainer, Image: image}}}}
	}
	base := ShardTemplate{Pod: pod(""), Settings: HallSettings{Hall: "main", RedisAddress: "redis:6379", VerificationKeySecret: "keys"}, DefaultImage: "gamehall:v1"}
	h := base.Hash()
	g.Expect(h).To(MatchRegexp(`^[a-z0-9]{1,63}$`), "a label value")
	same := base
	same.Pod, same.Settings.Hall = pod(""), "other" // another Hall with the same settings
	g.Expect(same.Hash()).To(Equal(h))
	named := base
	named.Pod = pod("gamehall:v1") // names what the default gave
	g.Expect(named.Hash()).To(Equal(h))

	for name, change := range map[string]func(*ShardTemplate){
		"the operator's default image": func(t *ShardTemplate) { t.DefaultImage = "gamehall:v2" },
		"the template's image":         func(t *ShardTemplate) { t.Pod = pod("gamehall:v2") },
		"the Hall's Redis":             func(t *ShardTemplate) { t.Settings.RedisAddress = "redis2:6379" },
		"the Hall's keys":              func(t *ShardTemplate) { t.Settings.VerificationKeySecret = "keys2" },
		"the Region's database":        func(t *ShardTemplate) { t.Database = &gamehallv1.DatabaseSpec{SecretName: "db"} },
		"no template":                  func(t *ShardTemplate) { t.Pod = nil },
	} {
		c := base
		change(&c)
		g.Expect(c.Hash()).NotTo(Equal(h), name)
	}
	// A template naming its image does not follow the operator's.
	pinned := ShardTemplate{Pod: pod("mine:1"), DefaultImage: "gamehall:v1"}
	moved := pinned
	moved.DefaultImage = "gamehall:v2"
	g.Expect(moved.Hash()).To(Equal(pinned.Hash()))
}

// Outdated is decided on what runs: no GameServer yet is not outdated, one
// without a hash (made before hashes) is.
func TestOutdated(t *testing.T) {
	g := NewWithT(t)
	shard := func(state, hash string) *gamehallv1.RoomShard {
		return &gamehallv1.RoomShard{Status: gamehallv1.RoomShardStatus{State: state, TemplateHash: hash}}
	}
	g.Expect(outdated(shard("Ready", "a"), "a")).To(BeFalse())
	g.Expect(outdated(shard("Ready", "a"), "b")).To(BeTrue())
	g.Expect(outdated(shard("Ready", ""), "b")).To(BeTrue(), "a GameServer without a hash")
	g.Expect(outdated(shard(statePending, ""), "b")).To(BeFalse(), "starts with the current template")
	g.Expect(outdated(shard(stateDrained, ""), "b")).To(BeFalse())
	g.Expect(outdated(shard("", ""), "b")).To(BeFalse())
	g.Expect(outdated(shard("Ready", "a"), "")).To(BeFalse(), "template unknown")
}
