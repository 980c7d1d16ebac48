package controllers

import (
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

// A GameServer that crashes is replaced, with a Warning event, and each
// further replacement waits longer (1s, 2s, 4s in this suite's config).
func TestCrashedGameServerReplacedWithBackoff(t *testing.T) {
	ctx, ns, g := setup(t)
	agones(ctx, t, ns)
	g.Expect(env.Client.Create(ctx, region(ns, "crash", 1, 1, time.Minute))).To(Succeed())
	shard := ShardName("crash", 0)

	crash := func(state agonesv1.GameServerState) *agonesv1.GameServer {
		gs := gameServerOf(ctx, g, ns, shard)
		patch := client.MergeFrom(gs.DeepCopy())
		gs.Status.State = state
		g.Expect(env.Client.Patch(ctx, gs, patch)).To(Succeed())
		return gs
	}
	var prevName string
	for i, state := range []agonesv1.GameServerState{agonesv1.GameServerStateUnhealthy, agonesv1.GameServerStateError, agonesv1.GameServerStateShutdown} {
		old := crash(state)
		g.Expect(old.Name).NotTo(Equal(prevName))
		// The failure is seen, then after the backoff the next GameServer runs.
		var s gamehallv1.RoomShard
		var failedAt time.Time
		g.Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: shard}, &s)).To(Succeed())
			c := condition(s.Status.Conditions, gamehallv1.ConditionReady)
			g.Expect(c.Reason).To(Equal(gamehallv1.ReasonGameServerFailed))
			failedAt = c.LastTransitionTime.Time
		}).Should(Succeed())
		g.Eventually(gone(ctx, old.DeepCopy())).Should(BeTrue())
		next := gameServerOf(ctx, g, ns, shard)
		g.Expect(next.Name).To(Equal(ShardName("crash", 0) + "-gs" + itoa(i+1)))
		// Backoff 1s × 2^i, measured on the API server's clock (1 s resolution).
		backoff := time.Second << i
		g.Expect(next.CreationTimestamp.Time).To(BeTemporally(">=", failedAt.Add(backoff).Add(-time.Second)),
			"replacement %d created %s after the failure was seen, want at least %s", i+1, next.CreationTimestamp.Sub(failedAt), backoff)
		g.Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: shard}, &s)).To(Succeed())
			g.Expect(s.Status.Restarts).To(Equal(int32(i + 1)))
			g.Expect(s.Status.State).To(Equal("Ready"))
		}).Should(Succeed())
		prevName = old.Name
	}
	g.Expect(eventNotes(ctx, g, ns, shard, EventGameServerFailed)).To(HaveLen(3))
	g.Expect(eventNotes(ctx, g, ns, shard, EventGameServerReplaced)).To(ConsistOf(
		HavePrefix("Warning: replaced Unhealthy"), HavePrefix("Warning: replaced Error"), HavePrefix("Warning: replaced Shutdown")))
}

// A draining shard's crashed GameServer is not replaced: the Region removes
// the shard, and its finalizer the GameServer.
func TestDrainingShardNotReplaced(t *testing.T) {
	ctx, ns, g := setup(t)
	agones(ctx, t, ns)
	g.Expect(env.Client.Create(ctx, region(ns, "dr", 1, 2, time.Second))).To(Succeed())
	setPlayers(ctx, g, ns, ShardName("dr", 0), 15)
	g.Eventually(func() []int32 { return shardIndexes(ctx, g, ns, "dr") }).Should(ConsistOf(int32(0), int32(1)))
	setPlayers(ctx, g, ns, ShardName("dr", 1), 2)
	setPlayers(ctx, g, ns, ShardName("dr", 0), 3)
	var s1 gamehallv1.RoomShard
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, shardKey(ns, "dr", 1), &s1)).To(Succeed())
		g.Expect(s1.Spec.Draining).To(BeTrue())
	}).Should(Succeed())
	gs := gameServerOf(ctx, g, ns, s1.Name)
	patch := client.MergeFrom(gs.DeepCopy())
	gs.Status.State = agonesv1.GameServerStateUnhealthy
	g.Expect(env.Client.Patch(ctx, gs, patch)).To(Succeed())
	g.Eventually(gone(ctx, &s1)).Should(BeTrue())
	g.Eventually(gone(ctx, gs)).Should(BeTrue())
	g.Expect(eventNotes(ctx, g, ns, s1.Name, EventGameServerReplaced)).To(BeEmpty())
}

// A Region whose pod template names no image, with no default image either,
// reports it on the shard instead of retrying forever; GameServerFor is pure.
func TestGameServerForTemplate(t *testing.T) {
	g := NewWithT(t)
	rg := region("ns", "r", 0, 1, time.Second)
	rg.Spec.Template.Spec.Containers = nil
	shard := newRoomShard(rg, 3)
	shard.Spec.Draining = true
	rg.Spec.Template.Spec.Containers = append(rg.Spec.Template.Spec.Containers,
		corev1Container("sidecar", "busybox"), corev1Container(GameServerContainer, "my/image:1"))
	rg.Spec.Template.Spec.Containers[1].Env = append(rg.Spec.Template.Spec.Containers[1].Env, envVar("GAMEHALL_ROOMS", "999"), envVar("OTHER", "x"))
	gs, err := GameServerFor(shard, TemplateFor(rg, testSettings, "default:1"), 2)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(gs.Name).To(Equal("r-3-gs2"))
	g.Expect(gs.Spec.Container).To(Equal(GameServerContainer))
	g.Expect(gs.Labels).To(HaveKeyWithValue(gamehallv1.LabelDraining, "true"))
	g.Expect(gs.Spec.Template.Spec.Containers[0].Env).To(BeEmpty(), "other containers are left alone")
	c := gs.Spec.Template.Spec.Containers[1]
	g.Expect(c.Image).To(Equal("my/image:1"))
	vars := map[string]string{}
	for _, e := range c.Env {
		vars[e.Name] = e.Value
	}
	g.Expect(vars).To(HaveKeyWithValue("GAMEHALL_ROOMS", "2"), "ours replace the template's")
	g.Expect(vars).To(HaveKeyWithValue("GAMEHALL_FIRST_ROOM", "7"))
	g.Expect(vars).To(HaveKeyWithValue("OTHER", "x"))
	// The source template is not modified.
	g.Expect(rg.Spec.Template.Spec.Containers[1].Env).To(HaveLen(2))

	rg.Spec.Template.Spec.Containers = nil
	_, err = GameServerFor(shard, TemplateFor(rg, testSettings, ""), 0)
	g.Expect(err).To(MatchError(ContainSubstring(`Region "r" has no containers and the operator no --gameserver-image`)))
}

// Every GameServer mounts its Hall's verification-key Secret (never the
// signing one) read-only and points GAMEHALL_VERIFICATION_KEYS at it, and gets GAMEHALL_REDIS when the Hall names a
// presence store: whether the Region brings its own template or not.
func TestGameServerForVerificationKeysAndPresence(t *testing.T) {
	tests := []struct {
		name       string
		secret     string // the Hall's login.verificationKeySecretName
		redis      string // the Hall's presence.redisAddress
		wantRedis  string // "": no GAMEHALL_REDIS
		noTemplate bool
		mod        func(*corev1.PodSpec) // the Region's template, before
		wantSecret string
	}{
		{name: "no redis", secret: "keys", wantSecret: "keys"},
		{name: "own secret and redis", secret: "zone-keys", redis: "redis.gamehall:6379", wantRedis: "redis.gamehall:6379", wantSecret: "zone-keys"},
		{name: "default template", noTemplate: true, secret: "k", redis: "10.0.0.9:6379", wantRedis: "10.0.0.9:6379", wantSecret: "k"},
		{name: "the hall's redis replaces the template's", secret: "keys", redis: "r:1", wantRedis: "r:1", wantSecret: "keys", mod: func(p *corev1.PodSpec) {
			p.Containers[0].Env = append(p.Containers[0].Env, envVar("GAMEHALL_REDIS", "stale:1"))
		}},
		// A template's own Redis stands when the Hall names none.
		{name: "template mount at the same path is replaced", secret: "k2", wantSecret: "k2", wantRedis: "own:1", mod: func(p *corev1.PodSpec) {
			p.Volumes = append(p.Volumes, corev1.Volume{Name: "mine", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			p.Containers[0].VolumeMounts = append(p.Containers[0].VolumeMounts,
				corev1.VolumeMount{Name: "mine", MountPath: VerificationKeysDir}, corev1.VolumeMount{Name: "cache", MountPath: "/cache"})
			p.Containers[0].Env = append(p.Containers[0].Env, envVar("GAMEHALL_REDIS", "own:1"), envVar("GAMEHALL_VERIFICATION_KEYS", "/elsewhere"))
		}},
		{name: "template volume of our name is replaced", secret: "keys", wantSecret: "keys", mod: func(p *corev1.PodSpec) {
			p.Volumes = append(p.Volumes, corev1.Volume{Name: verificationKeysVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			rg := region("ns", "r", 0, 1, time.Second)
			settings := HallSettings{Hall: "main", VerificationKeySecret: tt.secret, RedisAddress: tt.redis}
			if tt.noTemplate {
				rg.Spec.Template = nil
			}
			if tt.mod != nil {
				tt.mod(&rg.Spec.Template.Spec)
			}
			gs, err := GameServerFor(newRoomShard(rg, 0), TemplateFor(rg, settings, "default:1"), 0)
			g.Expect(err).NotTo(HaveOccurred())
			pod := gs.Spec.Template.Spec
			var secrets []string
			for _, v := range pod.Volumes {
				if v.Secret != nil {
					secrets = append(secrets, v.Name+"="+v.Secret.SecretName)
				}
				g.Expect(v.Name == verificationKeysVolume && v.Secret == nil).To(BeFalse(), "our volume is the Secret")
			}
			g.Expect(secrets).To(Equal([]string{verificationKeysVolume + "=" + tt.wantSecret}))
			c := pod.Containers[0]
			var atKeys []corev1.VolumeMount
			for _, m := range c.VolumeMounts {
				if m.MountPath == VerificationKeysDir {
					atKeys = append(atKeys, m)
				}
			}
			g.Expect(atKeys).To(Equal([]corev1.VolumeMount{{Name: verificationKeysVolume, MountPath: VerificationKeysDir, ReadOnly: true}}))
			vars := map[string][]string{}
			for _, e := range c.Env {
				vars[e.Name] = append(vars[e.Name], e.Value)
			}
			g.Expect(vars).To(HaveKeyWithValue("GAMEHALL_VERIFICATION_KEYS", []string{VerificationKeysDir}))
			if tt.wantRedis == "" {
				g.Expect(vars).NotTo(HaveKey("GAMEHALL_REDIS"))
			} else {
				g.Expect(vars).To(HaveKeyWithValue("GAMEHALL_REDIS", []string{tt.wantRedis}))
			}
			if tt.mod != nil && len(rg.Spec.Template.Spec.Containers[0].VolumeMounts) > 0 {
				g.Expect(c.VolumeMounts).To(ContainElement(corev1.VolumeMount{Name: "cache", MountPath: "/cache"}), "other mounts stay")
				g.Expect(rg.Spec.Template.Spec.Containers[0].VolumeMounts).To(HaveLen(2), "the Region's template is not modified")
			}
		})
	}
}

// Deleting a RoomShard deletes its GameServer before the shard goes.
func TestRoomShardDeleteRemovesGameServer(t *testing.T) {
	ctx, ns, g := setup(t)
	agones(ctx, t, ns)
	// A shard without a Region (as `kubectl apply` could make one): runs with the default image.
	lone := region(ns, "lone", 0, 1, time.Second)
	lone.Spec.Template.Spec.Containers = nil
	s := newRoomShard(lone, 0)
	g.Expect(env.Client.Create(ctx, s)).To(Succeed())
	gs := gameServerOf(ctx, g, ns, s.Name)
	g.Expect(gs.Spec.Template.Spec.Containers[0].Image).To(Equal(DefaultConfig().GameServerImage))
	g.Expect(gs.Spec.Template.Spec.Containers[0].Env).To(ContainElement(envVar("GAMEHALL_VERIFICATION_KEYS", VerificationKeysDir)))
	g.Expect(gs.Spec.Template.Spec.Volumes[0].Secret.SecretName).To(Equal(testSettings.VerificationKeySecret))
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
		g.Expect(s.Finalizers).To(ContainElement(shardFinalizer))
		g.Expect(condition(s.Status.Conditions, gamehallv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}).Should(Succeed())
	g.Expect(env.Client.Delete(ctx, s)).To(Succeed())
	g.Eventually(gone(ctx, gs)).Should(BeTrue())
	g.Eventually(gone(ctx, s)).Should(BeTrue())
}

// A GameServer that bears the name of a shard's next one and is not the
// shard's is never adopted: the shard says which, and the GameServer is left
// as it was.
func TestRoomShardRefusesToAdoptGameServer(t *testing.T) {
	ctx, ns, g := setup(t)
	shard := ShardName("taken", 0)
	name := shard + "-gs0"
	theirs := &agonesv1.GameServer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: agonesv1.GameServerSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "theirs", Image: "example.org/theirs:1"}}}}}}
	g.Expect(env.Client.Create(ctx, theirs)).To(Succeed())
	g.Expect(env.Client.Create(ctx, region(ns, "taken", 1, 1, time.Minute))).To(Succeed())

	want := "GameServer " + ns + "/" + name + " exists and is not controlled by RoomShard " + shard + ": not adopted"
	g.Eventually(func(g Gomega) {
		var s gamehallv1.RoomShard
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: shard}, &s)).To(Succeed())
		c := condition(s.Status.Conditions, gamehallv1.ConditionReady)
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonObjectNotOwned))
		g.Expect(c.Message).To(ContainSubstring(want))
	}).Should(Succeed())
	g.Eventually(func() []string { return eventNotes(ctx, g, ns, shard, EventObjectNotOwned) }).Should(
		ConsistOf(ContainSubstring("Warning: " + want)))
	g.Consistently(func(g Gomega) {
		var gs agonesv1.GameServer
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(theirs), &gs)).To(Succeed())
		g.Expect(gs.ResourceVersion).To(Equal(theirs.ResourceVersion))
		g.Expect(gs.OwnerReferences).To(BeEmpty())
	}).Should(Succeed())
}
