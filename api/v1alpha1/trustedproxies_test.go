package v1alpha1_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// login.trustedProxies takes addresses and CIDR prefixes (IPv4 and IPv6),
// and refuses anything else with a message that says what it wants.
func TestHallTrustedProxies(t *testing.T) {
	ns := env.Namespace(t)
	hall := func(name string, proxies ...string) *v1.Hall {
		return &v1.Hall{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1.HallSpec{Login: v1.LoginSpec{SigningKeySecretName: "keys", VerificationKeySecretName: "keys-pub", Guest: true, TrustedProxies: proxies}}}
	}
	if err := env.Client.Create(ctx(t), hall("ok", "10.0.0.0/8", "192.0.2.7", "2001:db8::/64")); err != nil {
		t.Fatalf("addresses and prefixes refused: %v", err)
	}
	for _, bad := range []string{"lb.example.com", "10.0.0.0/33", "10.0.0.1:8080"} {
		err := env.Client.Create(ctx(t), hall("bad", bad))
		if err == nil || !strings.Contains(err.Error(), "trustedProxies are IP addresses or CIDR prefixes") {
			t.Errorf("trustedProxies [%q]: %v; want refused", bad, err)
		}
	}
}
