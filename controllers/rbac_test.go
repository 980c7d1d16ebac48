package controllers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// The operator's identity in config/rbac.
const (
	operatorNamespace = "gamehall-system"
	operatorUser      = "system:serviceaccount:" + operatorNamespace + ":gamehall-operator"
)

// asOperator applies config/rbac (the files its kustomization lists, as
// `make deploy` does) and returns cfg impersonating the operator's
// ServiceAccount: the suite's operator runs with exactly those rights, so a
// reconciler call without its +kubebuilder:rbac marker fails the tests.
func asOperator(ctx context.Context, c client.Client, cfg *rest.Config, root string) (*rest.Config, error) {
	dir := filepath.Join(root, "config", "rbac")
	var k struct {
		Resources []string `json:"resources"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("config/rbac/kustomization.yaml: %w", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	for _, f := range k.Resources {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var u unstructured.Unstructured
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("config/rbac/%s: %w", f, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			if err := c.Create(ctx, &u); err != nil {
				return nil, fmt.Errorf("config/rbac/%s: %s %s: %w", f, u.GetKind(), u.GetName(), err)
			}
		}
	}
	as := rest.CopyConfig(cfg)
	as.Impersonate = rest.ImpersonationConfig{UserName: operatorUser,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNamespace, "system:authenticated"}}
	return as, nil
}

// may asks the API server whether user may do verb on resource (group/resource[/subresource]) in ns.
func may(ctx context.Context, g Gomega, user, verb, resource, ns, name string) bool {
	group, res, _ := strings.Cut(resource, "/")
	res, sub, _ := strings.Cut(res, "/")
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   user,
		Groups: []string{"system:serviceaccounts", "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: verb, Group: group, Resource: res, Subresource: sub, Name: name},
	}}
	g.Expect(env.Client.Create(ctx, sar)).To(Succeed())
	return sar.Status.Allowed
}

// What config/rbac lets the operator and the halls do, asked of the API
// server (the before/after of issue 11 is in docs/security.md): no Secret,
// no Role, no Pod; RoleBindings only of the halls' ClusterRole.
func TestRBAC(t *testing.T) {
	ctx, ns, g := setupWithoutHall(t)
	hallSA := "system:serviceaccount:" + ns + ":" + HallChildName("main")
	tests := []struct {
		user, verb, resource, name string
		ns                         string // "-": cluster scope
		want                       bool
	}{
		{operatorUser, "get", "/secrets", "", ns, false},
		{operatorUser, "list", "/secrets", "", ns, false},
		{operatorUser, "list", "/pods", "", ns, false},
		{operatorUser, "create", "rbac.authorization.k8s.io/roles", "", ns, false},
		{operatorUser, "create", "rbac.authorization.k8s.io/clusterrolebindings", "", "-", false},
		{operatorUser, "escalate", "rbac.authorization.k8s.io/roles", "", ns, false},
		{operatorUser, "bind", "rbac.authorization.k8s.io/clusterroles", HallClusterRole, ns, true},
		{operatorUser, "bind", "rbac.authorization.k8s.io/clusterroles", "admin", ns, false},
		{operatorUser, "bind", "rbac.authorization.k8s.io/clusterroles", "cluster-admin", "-", false},
		{operatorUser, "create", "rbac.authorization.k8s.io/rolebindings", "", ns, true},
		{operatorUser, "delete", "apps/deployments", "", ns, false},
		{operatorUser, "patch", "gamehall.dev/halls", "", ns, false},
		{operatorUser, "update", "gamehall.dev/halls/status", "", ns, false},
		{operatorUser, "patch", "gamehall.dev/halls/status", "", ns, true},
		{operatorUser, "create", "agones.dev/gameservers", "", ns, true},
		{hallSA, "list", "gamehall.dev/roomshards", "", ns, false}, // no Hall yet, no binding
	}
	for _, tt := range tests {
		n := tt.ns
		if n == "-" {
			n = ""
		}
		g.Expect(may(ctx, g, tt.user, tt.verb, tt.resource, n, tt.name)).To(Equal(tt.want), "%s %s %s %q in %q", tt.user, tt.verb, tt.resource, tt.name, n)
	}

	// Once its Hall exists, a hall may read Regions and RoomShards of its
	// namespace, and nothing else.
	g.Expect(env.Client.Create(ctx, hall(ns))).To(Succeed())
	g.Eventually(func() bool { return may(ctx, g, hallSA, "watch", "gamehall.dev/roomshards", ns, "") }).Should(BeTrue())
	for _, tt := range []struct{ verb, resource, ns string }{
		{"list", "gamehall.dev/roomshards", "default"},
		{"update", "gamehall.dev/roomshards", ns},
		{"get", "/secrets", ns},
		{"list", "/pods", ns},
		{"get", "gamehall.dev/halls", ns},
	} {
		g.Expect(may(ctx, g, hallSA, tt.verb, tt.resource, tt.ns, "")).To(BeFalse(), "hall %s %s in %s", tt.verb, tt.resource, tt.ns)
	}
}
