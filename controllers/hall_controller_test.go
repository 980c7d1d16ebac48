package controllers

import (
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

func hall(ns string) *gamehallv1.Hall {
	return &gamehallv1.Hall{
		ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: ns},
		Spec: gamehallv1.HallSpec{
			RegionSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"gamehall.dev/game": "doudizhu"}},
			Replicas:             2,
			MaxClientsPerReplica: 500,
			Login:                gamehallv1.LoginSpec{SigningKeySecretName: "keys", VerificationKeySecretName: "keys-pub", Guest: true, TicketTTL: &metav1.Duration{Duration: time.Hour}},
			Presence:             gamehallv1.PresenceSpec{RedisAddress: "redis:6379"},
			Service:              gamehallv1.HallServiceSpec{Type: corev1.ServiceTypeClusterIP, Port: 9000},
		},
	}
}

// The Hall's children are created and owned, its status follows the
// Deployment, the listed Regions and the Service. The operator reads no
// Secret: until the pods run, the condition names the one they mount.
func TestHallChildrenAndStatus(t *testing.T) {
	ctx, ns, g := setupWithoutHall(t)
	agones(ctx, t, ns)
	h := hall(ns)
	g.Expect(env.Client.Create(ctx, h)).To(Succeed())

	// The pods have not started (no Secret "keys" either).
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(h), h)).To(Succeed())
		c := condition(h.Status.Conditions, gamehallv1.ConditionReady)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonDeploymentUnavailable))
		g.Expect(c.Message).To(ContainSubstring(`Secret "keys"`))
	}).Should(Succeed())

	name := HallChildName("main")
	key := types.NamespacedName{Namespace: ns, Name: name}
	children := []client.Object{&corev1.ServiceAccount{}, &rbacv1.RoleBinding{}, &corev1.Service{}, &appsv1.Deployment{}}
	for _, o := range children {
		g.Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, key, o)).To(Succeed())
			g.Expect(metav1.IsControlledBy(o, h)).To(BeTrue(), "%T %s is not controlled by the Hall", o, name)
			g.Expect(o.GetLabels()).To(HaveKeyWithValue(gamehallv1.LabelHall, "main"))
		}).Should(Succeed())
	}
	var d appsv1.Deployment
	g.Expect(env.Client.Get(ctx, key, &d)).To(Succeed())
	g.Expect(*d.Spec.Replicas).To(Equal(int32(2)))
	pod := d.Spec.Template.Spec
	g.Expect(pod.ServiceAccountName).To(Equal(name))
	g.Expect(*pod.SecurityContext.RunAsNonRoot).To(BeTrue())
	g.Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
	c := pod.Containers[0]
	inCluster := "http://" + name + "." + ns + ".svc:9000"
	g.Expect(c.Args).To(Equal([]string{"hall", "--listen=:8080", "--internal-listen=:8081", "--namespace=" + ns, "--name=$(POD_NAME)",
		"--region-selector=gamehall.dev/game=doudizhu", "--max-clients=500", "--signing-keys=/etc/gamehall/signing-keys",
		"--verification-keys=/etc/gamehall/verification-keys",
		"--guest", "--ticket-ttl=1h0m0s", "--redis=redis:6379", "--advertise-url=" + inCluster}))
	g.Expect(c.Env).To(HaveLen(1), "POD_NAME only: no pod IP is named to clients")
	g.Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
	g.Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
	g.Expect(pod.Volumes[0].Secret.SecretName).To(Equal("keys"))
	g.Expect(c.VolumeMounts[0].MountPath).To(Equal(HallSigningKeysDir))
	g.Expect(pod.Volumes[1].Secret.SecretName).To(Equal("keys-pub"))
	g.Expect(c.VolumeMounts[1].MountPath).To(Equal(VerificationKeysDir))
	// The pods' rights: the shipped ClusterRole, bound in this namespace; no Role of their own.
	var rb rbacv1.RoleBinding
	g.Expect(env.Client.Get(ctx, key, &rb)).To(Succeed())
	g.Expect(rb.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: HallClusterRole}))
	g.Expect(rb.Subjects).To(Equal([]rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}}))
	g.Expect(apierrors.IsNotFound(env.Client.Get(ctx, key, &rbacv1.Role{}))).To(BeTrue(), "no Role is created")
	var svc corev1.Service
	g.Expect(env.Client.Get(ctx, key, &svc)).To(Succeed())
	g.Expect(svc.Spec.Ports[0].Port).To(Equal(int32(9000)))
	g.Expect(svc.Spec.Ports[0].TargetPort.StrVal).To(Equal(HallClientPortName))
	// Metrics and profiles: a container port of their own, not in the Service.
	g.Expect(c.Ports).To(ContainElement(corev1.ContainerPort{Name: HallInternalPortName, ContainerPort: HallInternalPort, Protocol: corev1.ProtocolTCP}))
	g.Expect(svc.Spec.Ports).To(HaveLen(1), "the internal port is not in the Service")

	// The key arrives, the Deployment becomes available (we play its
	// controller), a listed Region reports players.
	g.Expect(env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "keys", Namespace: ns}, Data: map[string][]byte{"k1.pem": []byte("secret")}})).To(Succeed())
	g.Expect(env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "keys-pub", Namespace: ns}, Data: map[string][]byte{"k1.pem": []byte("public")}})).To(Succeed())
	g.Expect(env.Client.Create(ctx, region(ns, "listed", 1, 2, time.Minute))).To(Succeed())
	unlisted := region(ns, "unlisted", 1, 2, time.Minute)
	unlisted.Labels = nil
	g.Expect(env.Client.Create(ctx, unlisted)).To(Succeed())
	setPlayers(ctx, g, ns, ShardName("listed", 0), 7)
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, key, &d)).To(Succeed())
		d.Status = appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, UpdatedReplicas: 2, ObservedGeneration: d.Generation,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"}}}
		g.Expect(env.Client.Status().Update(ctx, &d)).To(Succeed())
	}).Should(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(h), h)).To(Succeed())
		g.Expect(h.Status.ReadyReplicas).To(Equal(int32(2)))
		g.Expect(h.Status.Regions).To(Equal(int32(1)))
		g.Expect(h.Status.Shards).To(Equal(int32(1)))
		g.Expect(h.Status.Players).To(Equal(int64(7)))
		g.Expect(h.Status.Endpoint).To(Equal(inCluster))
		g.Expect(condition(h.Status.Conditions, gamehallv1.ConditionAddressResolved).Reason).To(Equal(gamehallv1.ReasonClusterDNS))
		c := condition(h.Status.Conditions, gamehallv1.ConditionReady)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonDeploymentAvailable))
	}).Should(Succeed())

	// A spec change reaches the Deployment.
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(h), h)).To(Succeed())
	h.Spec.Replicas = 3
	g.Expect(env.Client.Update(ctx, h)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, key, &d)).To(Succeed())
		g.Expect(*d.Spec.Replicas).To(Equal(int32(3)))
	}).Should(Succeed())
	g.Expect(env.Client.Get(ctx, key, &svc)).To(Succeed())
	rv := svc.ResourceVersion
	// Unchanged children are not rewritten on every reconcile.
	g.Consistently(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, key, &svc)).To(Succeed())
		g.Expect(svc.ResourceVersion).To(Equal(rv))
	}).Should(Succeed())
}

// An object that already bears a child's name and is not the Hall's is left
// alone: the Hall says which (condition and Warning event) and goes on once
// it is gone.
func TestHallRefusesToAdopt(t *testing.T) {
	ctx, ns, g := setupWithoutHall(t)
	name := HallChildName("main")
	key := types.NamespacedName{Namespace: ns, Name: name}
	labels := map[string]string{"app": "theirs"}
	replicas := int32(1)
	theirs := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.org/theirs:1"}}}}}}
	g.Expect(env.Client.Create(ctx, theirs)).To(Succeed())
	h := hall(ns)
	g.Expect(env.Client.Create(ctx, h)).To(Succeed())

	want := "Deployment " + ns + "/" + name + " exists and is not controlled by Hall main: not adopted"
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(h), h)).To(Succeed())
		c := condition(h.Status.Conditions, gamehallv1.ConditionReady)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonObjectNotOwned))
		g.Expect(c.Message).To(ContainSubstring(want))
	}).Should(Succeed())
	g.Eventually(func() []string { return eventNotes(ctx, g, ns, "main", EventObjectNotOwned) }).Should(
		ConsistOf(ContainSubstring("Warning: " + want)))

	// Untouched: same version, no owner, their image and labels.
	var d appsv1.Deployment
	g.Consistently(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, key, &d)).To(Succeed())
		g.Expect(d.ResourceVersion).To(Equal(theirs.ResourceVersion))
		g.Expect(d.OwnerReferences).To(BeEmpty())
		g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("example.org/theirs:1"))
	}).Should(Succeed())
	g.Expect(eventNotes(ctx, g, ns, "main", EventObjectNotOwned)).To(HaveLen(1), "one event, not one per reconcile")

	// Gone: the Hall makes its own at its next look (notOwnedRetry: the
	// operator caches only Hall-labelled Deployments, so it sees no deletion).
	g.Expect(env.Client.Delete(ctx, theirs)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, key, &d)).To(Succeed())
		g.Expect(metav1.IsControlledBy(&d, h)).To(BeTrue())
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(h), h)).To(Succeed())
		g.Expect(condition(h.Status.Conditions, gamehallv1.ConditionReady).Reason).To(Equal(gamehallv1.ReasonDeploymentUnavailable))
	}, notOwnedRetry+wait).Should(Succeed())
}

// A RoleBinding an older operator made (of a Role of the Hall's own) is
// replaced by one of ClusterRole gamehall-hall: roleRef cannot be updated.
func TestHallReplacesRoleBindingOfOlderOperator(t *testing.T) {
	ctx, ns, g := setupWithoutHall(t)
	h := hall(ns)
	g.Expect(env.Client.Create(ctx, h)).To(Succeed())
	name := HallChildName("main")
	key := types.NamespacedName{Namespace: ns, Name: name}
	var rb rbacv1.RoleBinding
	g.Eventually(func() error { return env.Client.Get(ctx, key, &rb) }).Should(Succeed())

	// What the previous version wrote, controlled by the Hall.
	old := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: rb.OwnerReferences},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: rb.Subjects}
	g.Eventually(func(g Gomega) {
		cur := &rbacv1.RoleBinding{}
		if err := env.Client.Get(ctx, key, cur); err == nil && cur.RoleRef.Kind == "ClusterRole" {
			g.Expect(client.IgnoreNotFound(env.Client.Delete(ctx, cur))).To(Succeed())
		}
		o := old.DeepCopy()
		g.Expect(env.Client.Create(ctx, o)).To(Succeed()) // may race the operator's re-creation: try again
		old = o
	}).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, key, &rb)).To(Succeed())
		g.Expect(rb.UID).NotTo(Equal(old.UID))
		g.Expect(rb.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: HallClusterRole}))
		g.Expect(metav1.IsControlledBy(&rb, h)).To(BeTrue())
	}).Should(Succeed())
}

// Clients are sent to the Service's load balancer once it has an address,
// and to spec.service.externalURL when one is set: the pods get it as
// --advertise-url, status.endpoint shows it. Never a pod IP.
func TestHallAddress(t *testing.T) {
	ctx, ns, g := setupWithoutHall(t)
	h := hall(ns)
	h.Spec.Service.Type = corev1.ServiceTypeLoadBalancer
	g.Expect(env.Client.Create(ctx, h)).To(Succeed())
	key := types.NamespacedName{Namespace: ns, Name: HallChildName("main")}
	advertised := func(g Gomega) []string {
		var d appsv1.Deployment
		g.Expect(env.Client.Get(ctx, key, &d)).To(Succeed())
		var out []string
		for _, a := range d.Spec.Template.Spec.Containers[0].Args {
			if v, ok := strings.CutPrefix(a, "--advertise-url="); ok {
				out = append(out, v)
			}
		}
		return out
	}
	status := func(g Gomega) (string, metav1.Condition) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(h), h)).To(Succeed())
		return h.Status.Endpoint, condition(h.Status.Conditions, gamehallv1.ConditionAddressResolved)
	}
	// No address yet: none named, and the condition says what to do.
	g.Eventually(func(g Gomega) {
		ep, c := status(g)
		g.Expect(ep).To(BeEmpty())
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonLoadBalancerPending))
		g.Expect(advertised(g)).To(BeEmpty())
	}).Should(Succeed())

	// The cloud's load balancer controller (played here) gives it an address.
	var svc corev1.Service
	g.Expect(env.Client.Get(ctx, key, &svc)).To(Succeed())
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.10"}}
	g.Expect(env.Client.Status().Update(ctx, &svc)).To(Succeed())
	g.Eventually(func(g Gomega) {
		ep, c := status(g)
		g.Expect(ep).To(Equal("http://203.0.113.10:9000"))
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(advertised(g)).To(Equal([]string{"http://203.0.113.10:9000"}))
	}).Should(Succeed())

	// An address of the admin's own wins.
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(h), h)).To(Succeed())
	h.Spec.Service.ExternalURL = "https://lobby.example.com/"
	g.Expect(env.Client.Update(ctx, h)).To(Succeed())
	g.Eventually(func(g Gomega) {
		ep, c := status(g)
		g.Expect(ep).To(Equal("https://lobby.example.com"))
		g.Expect(c.Reason).To(Equal(gamehallv1.ReasonExternalURL))
		g.Expect(advertised(g)).To(Equal([]string{"https://lobby.example.com"}))
	}).Should(Succeed())

	// Not a URL: refused at admission.
	h.Spec.Service.ExternalURL = "lobby.example.com:8080"
	g.Expect(env.Client.Update(ctx, h)).To(MatchError(ContainSubstring("externalURL must be an http:// or https:// URL")))
}

// The Hall's trusted proxies reach the hall as --trusted-proxies.
func TestHallArgsTrustedProxies(t *testing.T) {
	h := hall("games")
	if args := strings.Join(HallArgs(h, labels.Everything(), "", false), " "); strings.Contains(args, "--trusted-proxies") {
		t.Errorf("no proxies, yet %s", args)
	}
	h.Spec.Login.TrustedProxies = []string{"10.0.0.0/8", "2001:db8::/64"}
	args := HallArgs(h, labels.Everything(), "", false)
	if !slices.Contains(args, "--trusted-proxies=10.0.0.0/8,2001:db8::/64") {
		t.Errorf("HallArgs = %q; want --trusted-proxies=10.0.0.0/8,2001:db8::/64", args)
	}
}

func TestHallAddressTable(t *testing.T) {
	svc := func(typ corev1.ServiceType, ingress ...corev1.LoadBalancerIngress) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "main-hall", Namespace: "games"},
			Spec: corev1.ServiceSpec{Type: typ, ClusterIP: "10.96.0.7", Ports: []corev1.ServicePort{{Port: 8080}}}}
		s.Status.LoadBalancer.Ingress = ingress
		return s
	}
	tests := []struct {
		name, external string
		svc            *corev1.Service
		want, reason   string
	}{
		{"cluster DNS, not the cluster IP", "", svc(corev1.ServiceTypeClusterIP), "http://main-hall.games.svc:8080", gamehallv1.ReasonClusterDNS},
		{"load balancer hostname", "", svc(corev1.ServiceTypeLoadBalancer, corev1.LoadBalancerIngress{Hostname: "lb.example.net"}), "http://lb.example.net:8080", gamehallv1.ReasonLoadBalancerIngress},
		{"load balancer IPv6", "", svc(corev1.ServiceTypeLoadBalancer, corev1.LoadBalancerIngress{IP: "2001:db8::1"}), "http://[2001:db8::1]:8080", gamehallv1.ReasonLoadBalancerIngress},
		{"load balancer pending", "", svc(corev1.ServiceTypeLoadBalancer), "", gamehallv1.ReasonLoadBalancerPending},
		{"node port needs a URL", "", svc(corev1.ServiceTypeNodePort), "", gamehallv1.ReasonNeedsExternalURL},
		{"external URL wins", "https://lobby.example.com/", svc(corev1.ServiceTypeNodePort), "https://lobby.example.com", gamehallv1.ReasonExternalURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &gamehallv1.Hall{Spec: gamehallv1.HallSpec{Service: gamehallv1.HallServiceSpec{Type: tt.svc.Spec.Type, Port: 8080, ExternalURL: tt.external}}}
			got, c := HallAddress(h, tt.svc)
			if got != tt.want || c.Reason != tt.reason || (c.Status == metav1.ConditionTrue) != (tt.want != "") {
				t.Errorf("HallAddress = %q, %s %s (%s); want %q, %s", got, c.Status, c.Reason, c.Message, tt.want, tt.reason)
			}
		})
	}
}
