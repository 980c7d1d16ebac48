package namespaced_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/controllers"
	"github.com/gamehall/gamehall/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// The namespace config/namespaced names (role_binding.yaml, --namespace).
const watched = "games"

const operator = "system:serviceaccount:gamehall-system:gamehall-operator"

func may(ctx context.Context, g Gomega, verb, group, resource, ns, name string) bool {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: operator, Groups: []string{"system:serviceaccounts", "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: group, Resource: resource, Name: name},
	}}
	g.Expect(env.Client.Create(ctx, sar)).To(Succeed())
	return sar.Status.Allowed
}

// kubectl apply -k config/namespaced as the README's admin would, then the
// operator — as its ServiceAccount, watching "games" as the overlay's
// argument says — runs a Hall and a Region there with only the rights
// bound there, and can do nothing in another namespace.
func TestNamespacedOperator(t *testing.T) {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(30 * time.Second)
	g.SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, ns := range []string{watched, "other"} {
		g.Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	}
	cmd := exec.Command(env.Kubectl(), "--kubeconfig", env.Kubeconfig(t), "apply", "--server-side", "--force-conflicts", "-k", "config/namespaced")
	cmd.Dir = env.Root
	out, err := cmd.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "kubectl apply -k config/namespaced:\n%s", out)

	// The rights: in "games" only.
	var crbs rbacv1.ClusterRoleBindingList
	g.Expect(env.Client.List(ctx, &crbs)).To(Succeed())
	for _, b := range crbs.Items {
		g.Expect(b.RoleRef.Name).NotTo(HavePrefix("gamehall"), "ClusterRoleBinding %s", b.Name)
	}
	g.Expect(may(ctx, g, "create", "apps", "deployments", watched, "")).To(BeTrue())
	g.Expect(may(ctx, g, "bind", "rbac.authorization.k8s.io", "clusterroles", watched, controllers.HallClusterRole)).To(BeTrue())
	for _, ns := range []string{"other", "kube-system", ""} {
		g.Expect(may(ctx, g, "list", "apps", "deployments", ns, "")).To(BeFalse(), "list deployments in %q", ns)
		g.Expect(may(ctx, g, "create", "rbac.authorization.k8s.io", "rolebindings", ns, "")).To(BeFalse(), "create rolebindings in %q", ns)
		g.Expect(may(ctx, g, "list", "gamehall.dev", "halls", ns, "")).To(BeFalse(), "list halls in %q", ns)
	}

	// The operator, as the overlay runs it.
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: operator,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:gamehall-system", "system:authenticated"}}
	scheme, err := controllers.NewScheme()
	g.Expect(err).NotTo(HaveOccurred())
	cacheOpts, err := controllers.CacheOptions(cfg, watched)
	g.Expect(err).NotTo(HaveOccurred())
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Cache: cacheOpts,
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(controllers.Setup(ctx, mgr, controllers.DefaultConfig())).To(Succeed())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("operator: %v", err)
		}
	})

	hall := func(ns string) *gamehallv1.Hall {
		return &gamehallv1.Hall{ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: ns},
			Spec: gamehallv1.HallSpec{Replicas: 1, Login: gamehallv1.LoginSpec{SigningKeySecretName: "gamehall-ticket-signing", VerificationKeySecretName: "gamehall-ticket-verification", Guest: true}}}
	}
	region := &gamehallv1.Region{ObjectMeta: metav1.ObjectMeta{Name: "south", Namespace: watched},
		Spec: gamehallv1.RegionSpec{Game: gamehallv1.GameDouDizhu, RoomsPerShard: 1, RoomCapacity: 3, MinShards: 1, MaxShards: 1,
			Template: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: controllers.GameServerContainer, Image: "gamehall:test"}}}}}}
	for _, o := range []client.Object{hall(watched), region, hall("other")} {
		g.Expect(env.Client.Create(ctx, o)).To(Succeed())
	}
	child := types.NamespacedName{Namespace: watched, Name: controllers.HallChildName("main")}
	g.Eventually(func(g Gomega) {
		var rb rbacv1.RoleBinding
		g.Expect(env.Client.Get(ctx, child, &rb)).To(Succeed())
		g.Expect(rb.RoleRef.Name).To(Equal(controllers.HallClusterRole))
		g.Expect(env.Client.Get(ctx, child, &appsv1.Deployment{})).To(Succeed())
		var h gamehallv1.Hall
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: watched, Name: "main"}, &h)).To(Succeed())
		g.Expect(h.Status.Conditions).NotTo(BeEmpty())
		g.Expect(h.Status.Regions).To(Equal(int32(1)))
		var gss agonesv1.GameServerList
		g.Expect(env.Client.List(ctx, &gss, client.InNamespace(watched))).To(Succeed())
		g.Expect(gss.Items).To(HaveLen(1))
	}).Should(Succeed())
	// The Hall elsewhere is not the operator's.
	g.Consistently(func(g Gomega) {
		var h gamehallv1.Hall
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: "other", Name: "main"}, &h)).To(Succeed())
		g.Expect(h.Status.Conditions).To(BeEmpty())
		var ds appsv1.DeploymentList
		g.Expect(env.Client.List(ctx, &ds, client.InNamespace("other"))).To(Succeed())
		g.Expect(ds.Items).To(BeEmpty())
	}, 2*time.Second, 100*time.Millisecond).Should(Succeed())
}
