package v1alpha1_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// installTrustBoundary creates config/admission's policy, and its binding
// limited to namespace ns (the package's other tests name Secrets freely),
// and waits until the API server enforces it.
func installTrustBoundary(t *testing.T, ns string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.Root, "config", "admission", "trust_boundary.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var policy admissionv1.ValidatingAdmissionPolicy
	var binding admissionv1.ValidatingAdmissionPolicyBinding
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for _, into := range []any{&policy, &binding} {
		if err := dec.Decode(into); err != nil {
			t.Fatalf("config/admission/trust_boundary.yaml: %v", err)
		}
	}
	var rest map[string]any
	if err := dec.Decode(&rest); !errors.Is(err, io.EOF) {
		t.Fatalf("config/admission/trust_boundary.yaml: a policy and its binding, nothing else (%v)", err)
	}
	if binding.Spec.PolicyName != policy.Name || len(binding.Spec.ValidationActions) != 1 || binding.Spec.ValidationActions[0] != admissionv1.Deny {
		t.Fatalf("the binding does not deny with the policy: %+v", binding.Spec)
	}
	c := ctx(t)
	var nsObj corev1.Namespace
	if err := env.Client.Get(c, client.ObjectKey{Name: ns}, &nsObj); err != nil {
		t.Fatal(err)
	}
	if nsObj.Labels == nil {
		nsObj.Labels = map[string]string{}
	}
	nsObj.Labels["gamehall.test/admission"] = "on"
	if err := env.Client.Update(c, &nsObj); err != nil {
		t.Fatal(err)
	}
	binding.Spec.MatchResources = &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"gamehall.test/admission": "on"}}}
	for _, o := range []client.Object{&policy, &binding} {
		if err := env.Client.Create(c, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
	// The policy takes effect once the API server's admission has loaded it.
	probe := &v1.Region{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns}, Spec: v1.RegionSpec{Game: v1.GameDouDizhu,
		Template: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "gameserver"}}}}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := env.Client.Create(c, probe.DeepCopy())
		if err != nil && strings.Contains(err.Error(), "hostNetwork, hostPID and hostIPC are refused") {
			return
		}
		if err == nil {
			_ = env.Client.Delete(c, probe.DeepCopy())
		}
		if time.Now().After(deadline) {
			t.Fatalf("config/admission is not enforced after 30 s: last create: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// config/admission refuses what would let a namespace user who may create
// Regions and Halls escalate through the pods the operator runs from them,
// each with a message that says why; the samples and a template with what
// shards may have pass.
func TestTrustBoundaryAdmission(t *testing.T) {
	ns := env.Namespace(t)
	installTrustBoundary(t, ns)
	yes := true
	tmpl := func(mut func(*corev1.PodSpec)) *v1.Region {
		spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "gameserver", Image: "registry.example/gamehall:v1"}}}
		mut(&spec)
		return &v1.Region{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: ns},
			Spec: v1.RegionSpec{Game: v1.GameDouDizhu, Template: &corev1.PodTemplateSpec{Spec: spec}}}
	}
	container := func(mut func(*corev1.Container)) func(*corev1.PodSpec) {
		return func(s *corev1.PodSpec) { mut(&s.Containers[0]) }
	}
	hall := func(mut func(*v1.LoginSpec)) *v1.Hall {
		h := &v1.Hall{ObjectMeta: metav1.ObjectMeta{Name: "h", Namespace: ns}, Spec: v1.HallSpec{Login: v1.LoginSpec{SigningKeySecretName: "gamehall-ticket-signing", VerificationKeySecretName: "gamehall-ticket-verification", Guest: true}}}
		mut(&h.Spec.Login)
		return h
	}
	secretVolume := func(name string) corev1.Volume {
		return corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name}}}
	}
	const (
		hostNS     = "hostNetwork, hostPID and hostIPC are refused"
		account    = "spec.template.spec.serviceAccountName is refused"
		privileged = "privileged containers are refused"
		caps       = "adds a capability beyond Pod Security baseline's"
		hostPort   = "hostPort is refused"
		volumes    = "hostPath and other node volumes are refused"
		secrets    = "a Region's pods may read only Secrets named gamehall-*"
		database   = "spec.database.secretName must be named gamehall-*"
		login      = "the Secrets a Hall names (signingKeySecretName, verificationKeySecretName, accountsSecretName, accountsDatabase.secretName) must be named gamehall-*"
	)
	refused := []struct {
		name string
		obj  client.Object
		want string
	}{
		{"hostNetwork", tmpl(func(s *corev1.PodSpec) { s.HostNetwork = true }), hostNS},
		{"hostPID", tmpl(func(s *corev1.PodSpec) { s.HostPID = true }), hostNS},
		{"hostIPC", tmpl(func(s *corev1.PodSpec) { s.HostIPC = true }), hostNS},
		{"another ServiceAccount", tmpl(func(s *corev1.PodSpec) { s.ServiceAccountName = "main-hall" }), account},
		{"privileged", tmpl(container(func(c *corev1.Container) { c.SecurityContext = &corev1.SecurityContext{Privileged: &yes} })), privileged},
		{"privileged init container", tmpl(func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", SecurityContext: &corev1.SecurityContext{Privileged: &yes}}}
		}), privileged},
		{"SYS_ADMIN", tmpl(container(func(c *corev1.Container) {
			c.SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE", "SYS_ADMIN"}}}
		})), caps},
		{"hostPort", tmpl(container(func(c *corev1.Container) { c.Ports = []corev1.ContainerPort{{ContainerPort: 7000, HostPort: 7000}} })), hostPort},
		{"hostPath", tmpl(func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}), volumes},
		{"nfs", tmpl(func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "nfs", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "10.0.0.1", Path: "/"}}}}
		}), volumes},
		{"Secret volume", tmpl(func(s *corev1.PodSpec) { s.Volumes = []corev1.Volume{secretVolume("main-hall-token")} }), secrets},
		{"projected Secret", tmpl(func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "gamehall-ok"}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "payments"}}}}}}}}
		}), secrets},
		{"env from a Secret key", tmpl(container(func(c *corev1.Container) {
			c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "payments"}, Key: "k"}}}}
		})), secrets},
		{"envFrom a Secret", tmpl(func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "payments"}}}}}}
		}), secrets},
		{"Region database", func() client.Object {
			r := tmpl(func(*corev1.PodSpec) {})
			r.Spec.Database = &v1.DatabaseSpec{SecretName: "payments-db"}
			return r
		}(), database},
		{"Hall signing key", hall(func(l *v1.LoginSpec) { l.SigningKeySecretName = "keys" }), login},
		{"Hall verification key", hall(func(l *v1.LoginSpec) { l.VerificationKeySecretName = "keys" }), login},
		{"Hall accounts", hall(func(l *v1.LoginSpec) { l.AccountsSecretName = "htpasswd" }), login},
		{"Hall accounts database", hall(func(l *v1.LoginSpec) { l.AccountsDatabase = &v1.DatabaseSpec{SecretName: "db-main"} }), login},
	}
	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			err := env.Client.Create(ctx(t), tc.obj)
			if err == nil {
				_ = env.Client.Delete(ctx(t), tc.obj)
				t.Fatalf("accepted; want refused with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "gamehall-trust-boundary") {
				t.Fatalf("refused with %v; want %q from the policy", err, tc.want)
			}
		})
	}

	// What shards and halls may have: the samples, and a template with its
	// own gamehall-* Secrets, a ConfigMap, an emptyDir, baseline capabilities.
	region := &v1.Region{}
	readSample(t, "gamehall_v1alpha1_region.yaml", region)
	h := &v1.Hall{}
	readSample(t, "gamehall_v1alpha1_hall.yaml", h)
	full := tmpl(func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{secretVolume("gamehall-tls"), {Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "any"}}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		c := &s.Containers[0]
		c.Env = []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "gamehall-extra"}, Key: "k"}}}}
		c.Ports = []corev1.ContainerPort{{ContainerPort: 9090}}
		c.SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}, Drop: []corev1.Capability{"ALL"}}}
	})
	full.Name = "full"
	for _, o := range []client.Object{region, h, full} {
		o.SetNamespace(ns)
		if err := env.Client.Create(ctx(t), o); err != nil {
			t.Errorf("%T %s is refused: %v", o, o.GetName(), err)
		}
	}
	// Updates are checked too.
	full.Spec.Template.Spec.HostPID = true
	if err := env.Client.Update(ctx(t), full); err == nil || !strings.Contains(err.Error(), hostNS) {
		t.Errorf("update to hostPID: %v; want refused with %q", err, hostNS)
	}
}
