package fakenode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestImagesCommand(t *testing.T) {
	im := Images{Gamehall: "/bin/gh", RedisServer: "/usr/bin/redis-server", ByTag: map[string]string{"v2": "/bin/gh2"}}
	for _, tc := range []struct {
		c       corev1.Container
		want    string
		wantErr string
	}{
		{corev1.Container{Image: "gamehall:dev", Args: []string{"hall", "--listen=:8080"}}, "/bin/gh hall --listen=:8080", ""},
		{corev1.Container{Image: "registry.example:5000/team/gamehall:v2", Args: []string{"operator"}}, "/bin/gh2 operator", ""},
		{corev1.Container{Image: "gamehall@sha256:abc", Command: []string{"/gamehall", "gameserver"}}, "/bin/gh gameserver", ""},
		{corev1.Container{Image: "gamehall:dev", Command: []string{"/bin/sh"}}, "", "ENTRYPOINT /gamehall"},
		{corev1.Container{Image: "redis:7.4", Args: []string{"redis-server", "--save", ""}}, "/usr/bin/redis-server --protected-mode no --save ", ""},
		{corev1.Container{Image: "docker.io/library/redis", Args: []string{"--port", "7000"}}, "/usr/bin/redis-server --protected-mode no --port 7000", ""},
		{corev1.Container{Image: "redis", Command: []string{"redis-cli"}}, "", "only redis-server"},
		{corev1.Container{Image: "nginx:1.27"}, "", "no container runtime"},
		{corev1.Container{Image: "evil/gamehallx:1"}, "", "no container runtime"},
	} {
		argv, err := im.Command(&tc.c)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v, want %q", tc.c.Image, err, tc.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(argv, " ") != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.c.Image, argv, err, tc.want)
		}
	}
}

func TestExpand(t *testing.T) {
	vars := []string{"POD_IP=10.244.0.5", "EMPTY="}
	for in, want := range map[string]string{
		"--advertise-url=http://$(POD_IP):8080": "--advertise-url=http://10.244.0.5:8080",
		"$(UNDEFINED) stays":                    "$(UNDEFINED) stays",
		"$$(POD_IP) is escaped":                 "$(POD_IP) is escaped",
		"a$(EMPTY)b":                            "ab",
		"trailing $":                            "trailing $",
	} {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

// A volume update swaps ..data at once: a reader of a key sees the old or
// the new content; removed keys go, new ones appear.
func TestWriteVolume(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	v1 := map[string][]byte{"k1": []byte("one"), "k2": []byte("two")}
	if changed, err := writeVolume(dir, v1, nil); err != nil || !changed {
		t.Fatalf("first write: %v %v", changed, err)
	}
	if changed, _ := writeVolume(dir, v1, v1); changed {
		t.Fatal("an unchanged volume was rewritten")
	}
	v2 := map[string][]byte{"k2": []byte("TWO"), "k3": []byte("three")}
	if _, err := writeVolume(dir, v2, v1); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"k2": "TWO", "k3": "three"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "k1")); !os.IsNotExist(err) {
		t.Errorf("k1 was removed from the Secret but is still mounted: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	stamps := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..data-") {
			stamps++
		}
	}
	if stamps != 1 {
		t.Errorf("%d data directories left, want 1", stamps)
	}
}

func TestDNSAnswerOutsideCluster(t *testing.T) {
	d := &DNS{}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("example.com."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	req, _ := b.Finish()
	var p dnsmessage.Parser
	h, err := p.Start(d.answer(req))
	if err != nil || h.ID != 7 || h.RCode != dnsmessage.RCodeNameError {
		t.Fatalf("answer %+v, %v; want NXDOMAIN for id 7", h, err)
	}
	if _, ok := d.lookup("x.y.z.svc.cluster.local."); ok {
		t.Error("a name with too many labels resolved")
	}
}

func TestRollingBounds(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	num := func(n int) *intstr.IntOrString { v := intstr.FromInt32(int32(n)); return &v }
	for _, tc := range []struct {
		name          string
		strategy      appsv1.DeploymentStrategy
		want          int32
		surge, unavai int32
	}{
		{"defaults of the API server (25 %/25 %), 1 replica: surge one, keep it", appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: pct("25%"), MaxUnavailable: pct("25%")}}, 1, 1, 0},
		{"25 % of 8", appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: pct("25%"), MaxUnavailable: pct("25%")}}, 8, 2, 2},
		{"0 and 0 would never move: surge one", appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: num(0), MaxUnavailable: num(0)}}, 3, 1, 0},
		{"Recreate: none surge, all may go", appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}, 3, 0, 3},
	} {
		dep := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Strategy: tc.strategy}}
		if s, u := rollingBounds(dep, tc.want); s != tc.surge || u != tc.unavai {
			t.Errorf("%s: surge %d unavailable %d, want %d %d", tc.name, s, u, tc.surge, tc.unavai)
		}
	}
}

func TestFieldValueAndPorts(t *testing.T) {
	pod := &corev1.Pod{}
	pod.Name, pod.Namespace, pod.Labels = "hall-0", "games", map[string]string{"app": "hall"}
	pod.Spec.Containers = []corev1.Container{{Name: "hall", Ports: []corev1.ContainerPort{{Name: "client", ContainerPort: 8080}}}}
	for path, want := range map[string]string{"metadata.name": "hall-0", "metadata.namespace": "games", "status.podIP": "10.244.3.7", "metadata.labels['app']": "hall"} {
		if got, err := fieldValue(pod, "10.244.3.7", path); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := fieldValue(pod, "", "status.hostIPs[0]"); err == nil {
		t.Error("an unsupported fieldRef was accepted")
	}
	if p, ok := targetPort(pod, corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("client")}); !ok || p != 8080 {
		t.Errorf("named target port: %d %v", p, ok)
	}
	if _, ok := targetPort(pod, corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("metrics")}); ok {
		t.Error("a port the pod does not name resolved")
	}
}

// Pod addresses go round: a new pod does not take the address a pod just
// left (the node's neighbor cache would still name the gone pod).
func TestNextHost(t *testing.T) {
	full := map[int]string{}
	for h := 2; h <= 254; h++ {
		full[h] = "x"
	}
	tests := []struct {
		name string
		used map[int]string
		last int
		want int
	}{
		{"first", nil, 0, 2},
		{"after the last given", map[int]string{2: "a"}, 2, 3},
		{"a freed lower address waits its turn", map[int]string{3: "b"}, 3, 4},
		{"skips used ones", map[int]string{5: "a", 6: "b"}, 4, 7},
		{"wraps", map[int]string{254: "a"}, 254, 2},
		{"wraps past used ones", map[int]string{254: "a", 2: "b"}, 253, 3},
		{"none free", full, 100, 0},
	}
	for _, tc := range tests {
		if got := nextHost(tc.used, tc.last); got != tc.want {
			t.Errorf("%s: nextHost = %d, want %d", tc.name, got, tc.want)
		}
	}
}
