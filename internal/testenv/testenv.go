// Package testenv starts the envtest control plane (a real etcd and
// kube-apiserver, built from source by `make envtest`) with gamehall's CRDs
// and the real Agones GameServer CRD installed, and gives each test its own
// namespace.
package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// K8sVersion is the control-plane version `make envtest` builds.
const K8sVersion = "1.37.1"

// Env is a running control plane.
type Env struct {
	Config  *rest.Config
	Client  client.Client // a direct client: no cache, reads what the API server has now
	Scheme  *runtime.Scheme
	Root    string // the repository root
	env     *envtest.Environment
	kubectl string
}

// Scheme knows the built-in kinds, gamehall's and the Agones mirror.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, gamehallv1.AddToScheme, agonesv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// RepoRoot finds the directory holding the module's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/gamehall/gamehall\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("testenv: no gamehall go.mod above the working directory")
		}
		dir = parent
	}
}

// Assets returns the directory holding etcd, kube-apiserver and kubectl, or an
// error that says how to build them.
func Assets(root string) (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(root, "bin", "k8s", K8sVersion)
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("test control plane binary %s is missing in %s: run 'make envtest' (builds etcd, kube-apiserver and kubectl %s from source, once) or set KUBEBUILDER_ASSETS", b, dir, K8sVersion)
		}
	}
	// envtest prefers the variable over BinaryAssetsDirectory, even when it is
	// set but empty: make them agree.
	if err := os.Setenv("KUBEBUILDER_ASSETS", dir); err != nil {
		return "", err
	}
	return dir, nil
}

// Start starts a control plane with the CRDs installed. Call it from TestMain;
// Stop it when the tests are done.
func Start() (*Env, error) { return StartWith(Options{}) }

// Options change what Start sets up.
type Options struct {
	// NoCRDs starts a control plane without any CRD: a test installs them
	// itself (InstallCRDs) to see what happens before they are served.
	NoCRDs bool
}

// CRD directories under the repository root.
var (
	GamehallCRDs = filepath.Join("config", "crd", "bases")
	AgonesCRDs   = filepath.Join("config", "agones")
)

// StartWith starts a control plane as opts say.
func StartWith(opts Options) (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets, err := Assets(root)
	if err != nil {
		return nil, err
	}
	var crds []string
	if !opts.NoCRDs {
		crds = []string{filepath.Join(root, GamehallCRDs), filepath.Join(root, AgonesCRDs)}
	}
	e := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crds,
		ErrorIfCRDPathMissing: true,
		// Two cores shared with other suites: give the API server time.
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := e.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the test control plane from %s: %w", assets, err)
	}
	// Many controllers and tests share one API server: don't throttle the client.
	cfg.QPS, cfg.Burst = 500, 1000
	s := Scheme()
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	return &Env{Config: cfg, Client: c, Scheme: s, Root: root, env: e, kubectl: filepath.Join(assets, "kubectl")}, nil
}

// InstallCRDs installs the CRDs in dir (relative to the repository root,
// e.g. GamehallCRDs) and waits until the API server serves them.
func (e *Env) InstallCRDs(dir string) error {
	_, err := envtest.InstallCRDs(e.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(e.Root, dir)}, ErrorIfPathMissing: true,
	})
	return err
}

// Stop stops the control plane.
func (e *Env) Stop() error { return e.env.Stop() }

// Main runs a package's tests against one control plane: use it as TestMain's body.
func Main(m *testing.M, env **Env) int {
	e, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*env = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the test control plane:", err)
	}
	return code
}

var nsCounter atomic.Int64

// Namespace creates a namespace for one test and deletes it when the test ends.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", nsCounter.Add(1), sanitize(t.Name()))
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Client.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		// envtest runs no namespace controller: deletion only marks it; the
		// unique name keeps tests apart anyway.
		if err := e.Client.Delete(context.Background(), ns); err != nil && !apierrors.IsNotFound(err) {
			t.Logf("deleting namespace %s: %v", name, err)
		}
	})
	return name
}

func sanitize(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// Kubeconfig writes a kubeconfig for the control plane and returns its path.
func (e *Env) Kubeconfig(t testing.TB) string {
	t.Helper()
	return e.KubeconfigAs(t, "test-admin", []string{"system:masters"})
}

// KubeconfigAs writes a kubeconfig of a user with only the rights RBAC
// gives name or groups (none, unless a test binds some).
func (e *Env) KubeconfigAs(t testing.TB, name string, groups []string) string {
	t.Helper()
	user, err := e.env.ControlPlane.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		t.Fatalf("adding a kubeconfig user: %v", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatalf("rendering a kubeconfig: %v", err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Kubectl is the path of the kubectl built with the control plane.
func (e *Env) Kubectl() string { return e.kubectl }
