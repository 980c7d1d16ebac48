package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/internal/testenv"
	"github.com/gamehall/gamehall/ticket"
)

// The plugin against a real API server (no operator, no hall: the tests
// write the objects and statuses those would).
var env *testenv.Env

// signingSecret is a Hall's signing Secret as `gamehall keys` writes it:
// two Ed25519 keys, "k2" active (it does not sort last).
func signingSecret(t *testing.T, ns string) (*corev1.Secret, map[string]ed25519.PublicKey) {
	t.Helper()
	data := map[string][]byte{"active": []byte("k2\n")}
	pub := map[string]ed25519.PublicKey{}
	for _, kid := range []string{"k2", "k3"} {
		k, err := ticket.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		data[kid+".pem"], pub[kid] = ticket.MarshalPrivateKey(k), k.Public().(ed25519.PublicKey)
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "keys", Namespace: ns}, Data: data}, pub
}

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, &env))
}

func plugin(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestTopReadsTheStatus(t *testing.T) {
	ns := env.Namespace(t)
	kc := env.Kubeconfig(t)
	ctx := context.Background()
	region := &gamehallv1.Region{ObjectMeta: metav1.ObjectMeta{Name: "south", Namespace: ns}, Spec: gamehallv1.RegionSpec{Game: gamehallv1.GameDouDizhu}}
	if err := env.Client.Create(ctx, region); err != nil {
		t.Fatal(err)
	}
	region.Status = gamehallv1.RegionStatus{Shards: 1, ReadyShards: 1, DesiredShards: 1, UpdatedShards: 1, Players: 7, Capacity: 20000, Occupancy: "0%", Hall: "main", TemplateHash: "abc"}
	if err := env.Client.Status().Update(ctx, region); err != nil {
		t.Fatal(err)
	}
	shard := &gamehallv1.RoomShard{ObjectMeta: metav1.ObjectMeta{Name: "south-0", Namespace: ns},
		Spec: gamehallv1.RoomShardSpec{Region: "south", Index: 0, Game: gamehallv1.GameDouDizhu, FirstRoom: 1, Rooms: 50, RoomCapacity: 400, TablesPerRoom: 100}}
	if err := env.Client.Create(ctx, shard); err != nil {
		t.Fatal(err)
	}
	shard.Status = gamehallv1.RoomShardStatus{State: "Allocated", Rooms: "1-50", Players: 7, Capacity: 20000, FullRooms: 0, TemplateHash: "abc"}
	if err := env.Client.Status().Update(ctx, shard); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := plugin(t, "top", "--kubeconfig", kc, "-n", ns)
	if code != 0 {
		t.Fatalf("top: %d %s", code, errOut)
	}
	for _, want := range []string{
		"south    1        1/1     1            0          7         20000      0%          0            main",
		"south-0   south    1-50    7         20000      0      Allocated   -       yes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("top lacks %q:\n%s", want, out)
		}
	}
	// -A names the namespace; an empty namespace says so.
	if _, out, _ := plugin(t, "top", "--kubeconfig", kc, "-A"); !strings.Contains(out, ns+"   south") {
		t.Errorf("top -A:\n%s", out)
	}
	empty := env.Namespace(t)
	if _, out, _ := plugin(t, "top", "--kubeconfig", kc, "-n", empty); !strings.Contains(out, "No Regions in namespace "+empty) {
		t.Errorf("top in an empty namespace: %q", out)
	}
	// A user without rights is told what is missing.
	nobody := env.KubeconfigAs(t, "nobody", nil)
	code, _, errOut = plugin(t, "top", "--kubeconfig", nobody, "-n", ns)
	if code != 1 || !strings.Contains(errOut, "listing Regions") || !strings.Contains(errOut, "forbidden") || !strings.Contains(errOut, "ask your cluster admin") {
		t.Errorf("top without rights: %d %q", code, errOut)
	}
}

// Every step of `rooms` before the hall answers, with what to do when it
// fails: Region, its Hall, the Hall's keys, its Service and endpoints.
// (The hall's answer through the service proxy is in the e2e: the API
// server proxies only to pod addresses, which no test here has.)
func TestRoomsSaysWhatIsMissing(t *testing.T) {
	ns := env.Namespace(t)
	kc := env.Kubeconfig(t)
	ctx := context.Background()
	rooms := func(args ...string) string {
		t.Helper()
		code, out, errOut := plugin(t, append([]string{"rooms", "--kubeconfig", kc, "-n", ns}, args...)...)
		if code != 1 || out != "" {
			t.Fatalf("rooms %v: code %d, stdout %q, stderr %q; want a failure", args, code, out, errOut)
		}
		return errOut
	}
	expect := func(got string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%q\nlacks %q", got, w)
			}
		}
	}
	expect(rooms("south"), fmt.Sprintf(`no Region "south" in namespace %q`, ns), "kubectl get regions -A")

	region := &gamehallv1.Region{ObjectMeta: metav1.ObjectMeta{Name: "south", Namespace: ns}, Spec: gamehallv1.RegionSpec{Game: gamehallv1.GameDouDizhu}}
	if err := env.Client.Create(ctx, region); err != nil {
		t.Fatal(err)
	}
	expect(rooms("south"), "no Hall lists Region "+ns+"/south", "condition HallSelected", "--hall")
	region.Status.Hall = "main"
	if err := env.Client.Status().Update(ctx, region); err != nil {
		t.Fatal(err)
	}
	expect(rooms("south"), `no Hall "main" in namespace`)

	hall := &gamehallv1.Hall{ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: ns},
		Spec: gamehallv1.HallSpec{Login: gamehallv1.LoginSpec{SigningKeySecretName: "keys", VerificationKeySecretName: "keys-pub", Guest: true}}}
	if err := env.Client.Create(ctx, hall); err != nil {
		t.Fatal(err)
	}
	expect(rooms("south"), "reading Secret "+ns+"/keys", "it does not exist")
	secret, _ := signingSecret(t, ns)
	if err := env.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	expect(rooms("south"), "Service main-hall", "the Service does not exist")

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "main-hall", Namespace: ns}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{gamehallv1.LabelHall: "main"},
		Ports:    []corev1.ServicePort{{Name: "client", Port: 8080}}}}
	if err := env.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	expect(rooms("south"), "the Service has no ready hall pod", "kubectl get pods -n "+ns+" -l gamehall.dev/hall=main")
	// --hall skips the Region.
	expect(rooms("nowhere", "--hall", "main"), "the Service has no ready hall pod")
}

// The ticket the plugin signs is one the hall accepts: the Secret's
// active key, the hall.ops audience, a short life.
func TestServiceTicket(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	secret, pub := signingSecret(t, ns)
	if err := env.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	c, err := connect(options{kubeconfig: env.Kubeconfig(t), namespace: ns, timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hall := &gamehallv1.Hall{ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: ns}, Spec: gamehallv1.HallSpec{Login: gamehallv1.LoginSpec{SigningKeySecretName: "keys", VerificationKeySecretName: "keys-pub"}}}
	tok, err := c.serviceTicket(ctx, hall)
	if err != nil {
		t.Fatal(err)
	}
	// The hall verifies with the public keys.
	ring, err := ticket.NewKeySet(pub)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := ring.Verify(tok, ticket.AudHallOps)
	if err != nil {
		t.Fatalf("the hall's keyring refuses the plugin's ticket: %v", err)
	}
	if !claims.Has(ticket.AudHallOps) || len(claims.Audience) != 1 || claims.KeyID != "k2" || time.Until(claims.Expiry) > time.Minute {
		t.Errorf("claims %+v: want hall.ops, key k2, at most a minute", claims)
	}
}
