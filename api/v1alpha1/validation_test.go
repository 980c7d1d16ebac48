package v1alpha1_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	v1 "github.com/gamehall/gamehall/api/v1alpha1"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// readSample decodes one file of config/samples.
func readSample(t *testing.T, name string, into client.Object) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.Root, "config", "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestSamplesAreAcceptedAndDefaulted(t *testing.T) {
	ns := env.Namespace(t)
	region := &v1.Region{}
	readSample(t, "gamehall_v1alpha1_region.yaml", region)
	region.Namespace = ns
	if err := env.Client.Create(ctx(t), region); err != nil {
		t.Fatalf("the sample Region is refused: %v", err)
	}
	north := &v1.Region{}
	readSample(t, "gamehall_v1alpha1_region_north.yaml", north)
	north.Namespace = ns
	if err := env.Client.Create(ctx(t), north); err != nil {
		t.Fatalf("the sample North Region is refused: %v", err)
	}
	if d := north.Spec.Database; d == nil || d.SecretName != "gamehall-db-north" || d.Key != v1.DefaultDatabaseKey {
		t.Errorf("North's database, defaulted: %+v", d)
	}
	hall := &v1.Hall{}
	readSample(t, "gamehall_v1alpha1_hall.yaml", hall)
	hall.Namespace = ns
	if err := env.Client.Create(ctx(t), hall); err != nil {
		t.Fatalf("the sample Hall is refused: %v", err)
	}

	// A minimal Region gets every default.
	minimal := &v1.Region{ObjectMeta: metav1.ObjectMeta{Name: "minimal", Namespace: ns}, Spec: v1.RegionSpec{Game: v1.GameDouDizhu}}
	if err := env.Client.Create(ctx(t), minimal); err != nil {
		t.Fatalf("a minimal Region is refused: %v", err)
	}
	got := &v1.Region{}
	if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(minimal), got); err != nil {
		t.Fatal(err)
	}
	s := got.Spec
	if s.RoomsPerShard != 50 || s.RoomCapacity != 400 || s.TablesPerRoom != 100 || s.MinShards != 1 || s.MaxShards != 10 ||
		s.Scaling.TargetOccupancyPercent != 80 || s.Scaling.ScaleDownDelayDuration() != 5*time.Minute || s.Scaling.ScaleDownDelay == nil || s.Scaling.DrainTimeout != nil ||
		s.Scaling.MaxSurge != v1.DefaultMaxSurge {
		t.Errorf("defaults not applied: %+v", s)
	}
	if got.ShardCapacity() != 20000 {
		t.Errorf("ShardCapacity = %d, want 20000", got.ShardCapacity())
	}

	minHall := &v1.Hall{ObjectMeta: metav1.ObjectMeta{Name: "minimal", Namespace: ns},
		Spec: v1.HallSpec{Login: v1.LoginSpec{SigningKeySecretName: "keys", VerificationKeySecretName: "keys-pub", Guest: true}}}
	if err := env.Client.Create(ctx(t), minHall); err != nil {
		t.Fatalf("a minimal Hall is refused: %v", err)
	}
	gotHall := &v1.Hall{}
	if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(minHall), gotHall); err != nil {
		t.Fatal(err)
	}
	// Accounts in a database only: someone can log in.
	dbHall := &v1.Hall{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: v1.HallSpec{Login: v1.LoginSpec{SigningKeySecretName: "keys", VerificationKeySecretName: "keys-pub", AccountsDatabase: &v1.DatabaseSpec{SecretName: "db-main"}}}}
	if err := env.Client.Create(ctx(t), dbHall); err != nil {
		t.Fatalf("a Hall with an accounts database only is refused: %v", err)
	}
	hs := gotHall.Spec
	if hs.Replicas != 1 || hs.MaxClientsPerReplica != 10000 || hs.Service.Type != corev1.ServiceTypeClusterIP || hs.Service.Port != 8080 || hs.Login.TicketTTL == nil || hs.Login.TicketTTLDuration() != 12*time.Hour {
		t.Errorf("Hall defaults not applied: %+v", hs)
	}
}

func validShard(ns, name string) *v1.RoomShard {
	return &v1.RoomShard{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       v1.RoomShardSpec{Region: "south", Index: 1, Game: v1.GameDouDizhu, FirstRoom: 51, Rooms: 50, RoomCapacity: 400, TablesPerRoom: 100},
	}
}

// TestInvalidObjectsAreRefused checks that admission refuses each invalid
// object with a message that says what is wrong.
func TestInvalidObjectsAreRefused(t *testing.T) {
	ns := env.Namespace(t)
	region := func(mut func(*v1.RegionSpec)) client.Object {
		r := &v1.Region{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: ns}, Spec: v1.RegionSpec{Game: v1.GameDouDizhu}}
		mut(&r.Spec)
		return r
	}
	shard := func(mut func(*v1.RoomShardSpec)) client.Object {
		s := validShard(ns, "s")
		mut(&s.Spec)
		return s
	}
	hall := func(mut func(*v1.HallSpec)) client.Object {
		h := &v1.Hall{ObjectMeta: metav1.ObjectMeta{Name: "h", Namespace: ns}, Spec: v1.HallSpec{Login: v1.LoginSpec{SigningKeySecretName: "keys", VerificationKeySecretName: "keys-pub", Guest: true}}}
		mut(&h.Spec)
		return h
	}
	now := metav1.Now()
	cases := []struct {
		name string
		obj  client.Object
		want string
	}{
		{"unknown game", region(func(s *v1.RegionSpec) { s.Game = "mahjong" }), `supported values: "doudizhu"`},
		{"no game", region(func(s *v1.RegionSpec) { s.Game = "" }), `spec.game`},
		{"room capacity 0", region(func(s *v1.RegionSpec) { s.RoomCapacity = -1 }), "spec.roomCapacity"},
		{"room capacity over 1000", region(func(s *v1.RegionSpec) { s.RoomCapacity = 1001 }), "should be less than or equal to 1000"},
		{"too many rooms per shard", region(func(s *v1.RegionSpec) { s.RoomsPerShard = 201 }), "spec.roomsPerShard"},
		{"shard over 100000 players", region(func(s *v1.RegionSpec) { s.RoomsPerShard = 200; s.RoomCapacity = 600 }), "roomsPerShard × roomCapacity must be at most 100000"},
		{"min above max", region(func(s *v1.RegionSpec) { s.MinShards = 5; s.MaxShards = 2 }), "minShards must not exceed maxShards"},
		{"target occupancy below 10", region(func(s *v1.RegionSpec) { s.Scaling.TargetOccupancyPercent = 5 }), "spec.scaling.targetOccupancyPercent"},
		{"target occupancy above 100", region(func(s *v1.RegionSpec) { s.Scaling.TargetOccupancyPercent = 101 }), "spec.scaling.targetOccupancyPercent"},
		{"max surge negative", region(func(s *v1.RegionSpec) { s.Scaling.MaxSurge = -1 }), "spec.scaling.maxSurge"},
		{"max surge above 100", region(func(s *v1.RegionSpec) { s.Scaling.MaxSurge = 101 }), "spec.scaling.maxSurge"},
		{"display name too long", region(func(s *v1.RegionSpec) { s.DisplayName = strings.Repeat("x", 65) }), "spec.displayName"},
		{"shard rooms overlap", shard(func(s *v1.RoomShardSpec) { s.FirstRoom = 50 }), "firstRoom must be index × rooms + 1"},
		{"shard negative index", shard(func(s *v1.RoomShardSpec) { s.Index = -1; s.FirstRoom = -49 }), "spec.index"},
		{"shard without region", shard(func(s *v1.RoomShardSpec) { s.Region = "" }), "spec.region"},
		{"shard too big", shard(func(s *v1.RoomShardSpec) { s.Rooms = 200; s.RoomCapacity = 1000; s.FirstRoom = 201 }), "rooms × roomCapacity must be at most 100000"},
		{"drain start without draining", shard(func(s *v1.RoomShardSpec) { s.DrainStartTime = &now }), "drainStartTime may only be set while draining"},
		{"hall nobody can log in", hall(func(s *v1.HallSpec) { s.Login.Guest = false }), "set accountsDatabase or accountsSecretName, or guest: true"},
		{"database without a Secret", region(func(s *v1.RegionSpec) { s.Database = &v1.DatabaseSpec{} }), "spec.database.secretName"},
		{"database key with a slash", region(func(s *v1.RegionSpec) { s.Database = &v1.DatabaseSpec{SecretName: "db", Key: "../dsn"} }), "spec.database.key"},
		{"hall without signing key", hall(func(s *v1.HallSpec) { s.Login.SigningKeySecretName = "" }), "spec.login.signingKeySecretName"},
		{"hall without verification key", hall(func(s *v1.HallSpec) { s.Login.VerificationKeySecretName = "" }), "spec.login.verificationKeySecretName"},
		{"hall verifying with its signing Secret", hall(func(s *v1.HallSpec) { s.Login.VerificationKeySecretName = "keys" }), "must differ"},
		{"hall bad service type", hall(func(s *v1.HallSpec) { s.Service.Type = "ExternalName" }), `supported values: "ClusterIP", "NodePort", "LoadBalancer"`},
		{"hall bad port", hall(func(s *v1.HallSpec) { s.Service.Port = 70000 }), "spec.service.port"},
		{"hall negative replicas", hall(func(s *v1.HallSpec) { s.Replicas = -1 }), "spec.replicas"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := env.Client.Create(ctx(t), tc.obj)
			if err == nil {
				_ = env.Client.Delete(ctx(t), tc.obj)
				t.Fatalf("accepted; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

func TestImmutableFields(t *testing.T) {
	ns := env.Namespace(t)
	r := &v1.Region{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: ns}, Spec: v1.RegionSpec{Game: v1.GameDouDizhu}}
	if err := env.Client.Create(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	s := validShard(ns, "s")
	if err := env.Client.Create(ctx(t), s); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		obj  client.Object
		mut  func()
		want string
	}{
		{"region roomCapacity", r, func() { r.Spec.RoomCapacity = 300 }, "roomCapacity is immutable"},
		{"region roomsPerShard", r, func() { r.Spec.RoomsPerShard = 40 }, "roomsPerShard is immutable"},
		{"shard region", s, func() { s.Spec.Region = "north" }, "region is immutable"},
		{"shard index", s, func() { s.Spec.Index = 2; s.Spec.FirstRoom = 101 }, "index is immutable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(tc.obj), tc.obj); err != nil {
				t.Fatal(err)
			}
			tc.mut()
			err := env.Client.Update(ctx(t), tc.obj)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("update error = %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Mutable fields stay mutable: scaling and the drain flag.
	if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(r), r); err != nil {
		t.Fatal(err)
	}
	r.Spec.MaxShards, r.Spec.Scaling.TargetOccupancyPercent = 20, 70
	if err := env.Client.Update(ctx(t), r); err != nil {
		t.Fatalf("changing the scaling policy is refused: %v", err)
	}
	if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(s), s); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	s.Spec.Draining, s.Spec.DrainStartTime = true, &now
	if err := env.Client.Update(ctx(t), s); err != nil {
		t.Fatalf("draining a shard is refused: %v", err)
	}
}

// TestPrinterColumns runs the real kubectl, as a person would.
func TestPrinterColumns(t *testing.T) {
	ns := env.Namespace(t)
	r := &v1.Region{ObjectMeta: metav1.ObjectMeta{Name: "south", Namespace: ns}, Spec: v1.RegionSpec{Game: v1.GameDouDizhu}}
	s := validShard(ns, "south-1")
	h := &v1.Hall{ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: ns}, Spec: v1.HallSpec{Login: v1.LoginSpec{SigningKeySecretName: "keys", VerificationKeySecretName: "keys-pub", Guest: true}}}
	for _, o := range []client.Object{r, s, h} {
		if err := env.Client.Create(ctx(t), o); err != nil {
			t.Fatal(err)
		}
	}
	s.Status = v1.RoomShardStatus{State: "Ready", Rooms: "51-100", Address: "10.1.2.3", Port: 7654, Players: 1234, Capacity: 20000}
	if err := env.Client.Status().Update(ctx(t), s); err != nil {
		t.Fatal(err)
	}
	kubeconfig := env.Kubeconfig(t)
	get := func(args ...string) string {
		cmd := exec.Command(env.Kubectl(), append([]string{"--kubeconfig", kubeconfig, "-n", ns, "get"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl get %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	wantHeader := map[string][]string{
		"regions":    {"NAME", "GAME", "SHARDS", "READY", "UP-TO-DATE", "PLAYERS", "CAPACITY", "OCCUPANCY", "AGE"},
		"roomshards": {"NAME", "REGION", "ROOMS", "PLAYERS", "CAPACITY", "STATE", "ADDRESS", "AGE"},
		"halls":      {"NAME", "REPLICAS", "READY", "REGIONS", "PLAYERS", "ENDPOINT", "AGE"},
	}
	for kind, cols := range wantHeader {
		header := strings.Fields(strings.SplitN(get(kind), "\n", 2)[0])
		if strings.Join(header, " ") != strings.Join(cols, " ") {
			t.Errorf("kubectl get %s columns = %v, want %v", kind, header, cols)
		}
	}
	row := strings.Fields(strings.SplitN(get("shard", "south-1", "--no-headers"), "\n", 2)[0])
	if want := []string{"south-1", "south", "51-100", "1234", "20000", "Ready", "10.1.2.3"}; strings.Join(row[:7], " ") != strings.Join(want, " ") {
		t.Errorf("kubectl get shard row = %v, want prefix %v", row, want)
	}
	// Short names and the category work.
	all := get("gamehall")
	for _, want := range []string{"region.gamehall.dev/south", "roomshard.gamehall.dev/south-1", "hall.gamehall.dev/main"} {
		if !strings.Contains(all, want) {
			t.Errorf("kubectl get gamehall lacks %s:\n%s", want, all)
		}
	}
	for _, short := range []string{"region", "shard", "hall"} {
		get(short)
	}
}

// TestGameServerMirrorMatchesRealCRD writes a GameServer through the typed
// mirror into the real Agones CRD and reads it back unstructured: a field the
// real schema does not know would be pruned, and the test would see it gone.
func TestGameServerMirrorMatchesRealCRD(t *testing.T) {
	ns := env.Namespace(t)
	container := "gameserver"
	gs := &agonesv1.GameServer{
		ObjectMeta: metav1.ObjectMeta{Name: "gs", Namespace: ns, Labels: map[string]string{v1.LabelRegion: "south"}},
		Spec: agonesv1.GameServerSpec{
			Container: container,
			Ports:     []agonesv1.GameServerPort{{Name: "players", PortPolicy: agonesv1.Dynamic, Container: &container, ContainerPort: 7000, Protocol: corev1.ProtocolTCP}},
			Health:    agonesv1.Health{PeriodSeconds: 5, FailureThreshold: 3, InitialDelaySeconds: 10},
			Counters:  map[string]agonesv1.CounterStatus{"players": {Count: 0, Capacity: 20000}, "rooms": {Count: 0, Capacity: 50}},
			Eviction:  &agonesv1.Eviction{Safe: agonesv1.EvictionSafeOnUpgrade},
			Template:  corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: container, Image: "gamehall:dev"}}}},
		},
	}
	if err := env.Client.Create(ctx(t), gs); err != nil {
		t.Fatalf("the real GameServer CRD refuses the mirror's object: %v", err)
	}
	gs.Status = agonesv1.GameServerStatus{
		State: agonesv1.GameServerStateReady, Address: "10.0.0.9", NodeName: "node-a",
		Ports:     []agonesv1.GameServerStatusPort{{Name: "players", Port: 7612}},
		Addresses: []corev1.NodeAddress{{Type: "PodIP", Address: "10.244.0.7"}},
		Counters:  map[string]agonesv1.CounterStatus{"players": {Count: 17, Capacity: 20000}},
	}
	// GameServer has no status subresource: Agones writes status with the object.
	if err := env.Client.Update(ctx(t), gs); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("agones.dev/v1")
	u.SetKind("GameServer")
	if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(gs), u); err != nil {
		t.Fatal(err)
	}
	for _, path := range [][]string{
		{"spec", "container"}, {"spec", "ports"}, {"spec", "health", "periodSeconds"}, {"spec", "counters", "players", "capacity"},
		{"spec", "eviction", "safe"}, {"spec", "template", "spec", "containers"},
		{"status", "state"}, {"status", "address"}, {"status", "nodeName"}, {"status", "ports"}, {"status", "addresses"},
		{"status", "counters", "players", "count"},
	} {
		if _, found, err := unstructured.NestedFieldNoCopy(u.Object, path...); !found || err != nil {
			t.Errorf("field %s did not survive the real CRD (pruned?)", strings.Join(path, "."))
		}
	}
	back := &agonesv1.GameServer{}
	if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(gs), back); err != nil {
		t.Fatal(err)
	}
	if back.Status.Counters["players"].Count != 17 || back.Status.Ports[0].Port != 7612 || back.Status.State != agonesv1.GameServerStateReady {
		t.Errorf("round trip lost status: %+v", back.Status)
	}
	// The real CRD's enums apply to the mirror too.
	bad := gs.DeepCopy()
	bad.ResourceVersion, bad.Name = "", "bad"
	bad.Spec.Ports[0].PortPolicy = "Sometimes"
	if err := env.Client.Create(ctx(t), bad); err == nil || !strings.Contains(err.Error(), "portPolicy") {
		t.Errorf("an invalid portPolicy was not refused by the real CRD: %v", err)
	}
}
