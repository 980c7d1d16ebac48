// Package e2e is the admin-path end-to-end harness (issue 9; the fault
// suite of issue 10 reuses it): a real etcd and kube-apiserver, the node
// stand-in of package fakenode (no kubelet or Agones controller can run
// here: it plays them, running every pod as processes in network
// namespaces), and helpers that do what the README tells an admin —
// kubectl apply of config/, make deploy, the samples — plus bots and
// invariant observers. Tests using it need root, iproute2 and redis-server;
// they run under the build tag e2e (make e2e, make e2e-smoke).
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/gamehall/gamehall/internal/fakenode"
	"github.com/gamehall/gamehall/internal/testenv"
)

// Cluster is a running control plane with one node.
type Cluster struct {
	T      testing.TB
	Root   string // repository root
	Dir    string // logs and state: bin/e2e/<test>
	Net    *fakenode.Network
	CP     *ControlPlane
	Node   *fakenode.Node
	Client client.Client // an admin's, uncached
	// Kubectl is the kubectl built with the control plane (bin/k8s).
	Kubectl  string
	Gamehall string // bin/gamehall
	// Path holds directories put first on the admin's PATH (Options.Path).
	Path   []string
	start  time.Time
	client *fakenode.Sandbox // where bots run: a machine on the cluster network
	mu     sync.Mutex
}

// Options tune Start.
type Options struct {
	// ImagesByTag runs gamehall images of a tag with another binary (see
	// fakenode.Images.ByTag).
	ImagesByTag map[string]string
	// Path: directories put first on the PATH of the admin's commands, as
	// `make install-plugin` would put the kubectl plugin on theirs.
	Path []string
}

// Start builds nothing: bin/gamehall and bin/k8s must exist (make build
// envtest). It starts the control plane and the node and stops them when
// the test ends; logs stay in Dir.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{T: t, start: time.Now()}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	c.Root = root
	c.Path = opts.Path
	assets, err := testenv.Assets(root)
	if err != nil {
		t.Fatal(err)
	}
	c.Kubectl = filepath.Join(assets, "kubectl")
	c.Gamehall = filepath.Join(root, "bin", "gamehall")
	if _, err := os.Stat(c.Gamehall); err != nil {
		t.Fatalf("%s is missing: run 'make build'", c.Gamehall)
	}
	redis, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is missing (the official redis image runs as it): hack/ensure-deps.sh redis-server")
	}
	c.Dir = filepath.Join(root, "bin", "e2e", sanitize(t.Name()))
	os.RemoveAll(c.Dir)
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c.Progressf("logs in %s", c.Dir)
	if c.Net, err = fakenode.ClaimNetwork(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Net.Close)
	c.Progressf("network slot %d: pods %s, Services %s, node %s", c.Net.Slot, c.Net.Pods, c.Net.Svcs, c.Net.NodeIP)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c.CP, err = StartControlPlane(ctx, assets, filepath.Join(c.Dir, "control-plane"), c.Net.Svcs.String(), c.Net.ServiceIP(1), c.Progressf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CP.Stop)
	c.Client, err = client.New(c.CP.REST, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(c.Dir, "node.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	log := funcr.New(func(prefix, args string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		fmt.Fprintf(logf, "%s %s %s\n", time.Now().Format("15:04:05.000"), prefix, args)
	}, funcr.Options{Verbosity: 1})
	ctrllog.SetLogger(log)
	images := fakenode.Images{Gamehall: c.Gamehall, RedisServer: redis, ByTag: opts.ImagesByTag}
	c.Node, err = fakenode.Start(context.Background(), fakenode.Config{
		REST: c.CP.REST, Scheme: testenv.Scheme(), Net: c.Net, Name: "e2e-node", Images: images,
		Dir: filepath.Join(c.Dir, "node"), APIServer: c.CP.APIServer, CA: c.CP.CA, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Progressf("stopping the node's pods")
		if err := c.Node.Stop(); err != nil {
			t.Logf("node: %v", err)
		}
	})
	if c.client, err = c.Net.NewSandbox(fakenode.ResolvConf("default", c.Net.ServiceIP(10))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Net.DeleteSandbox(c.client) })
	c.stopOnInterrupt()
	c.Progressf("node e2e-node up (kubelet, Deployments, Services, DNS %s, Agones stand-ins); pod logs in %s", c.Net.ServiceIP(10), filepath.Join(c.Dir, "node", "logs"))
	return c
}

// stopOnInterrupt cleans up on Ctrl-C or SIGTERM (the testing package runs
// no Cleanup then): no process, namespace or route outlives the run.
func (c *Cluster) stopOnInterrupt() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	c.T.Cleanup(func() { signal.Stop(sig) })
	go func() {
		s, ok := <-sig
		if !ok {
			return
		}
		c.Progressf("%v: stopping the pods, the control plane and the network", s)
		_ = c.Node.Stop()
		c.Net.DeleteSandbox(c.client)
		c.CP.Stop()
		c.Net.Close()
		os.Exit(130)
	}()
}

// Progressf prints a line a person can follow, with the time since Start.
func (c *Cluster) Progressf(format string, args ...any) {
	fmt.Printf("[e2e %6.1fs] %s\n", time.Since(c.start).Seconds(), fmt.Sprintf(format, args...))
}

// Env is the environment of commands run against the cluster: its
// kubeconfig, and its kubectl first on the PATH.
func (c *Cluster) Env() []string {
	path := append(append([]string{}, c.Path...), filepath.Dir(c.Kubectl), os.Getenv("PATH"))
	return append(os.Environ(), "KUBECONFIG="+c.CP.Kubeconfig, "PATH="+strings.Join(path, ":"))
}

// Run runs a command as an admin would at a shell in the repository, and
// returns its combined output.
func (c *Cluster) Run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = c.Root, c.Env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), err
}

// MustRun is Run, failing the test on an error; it prints the command.
func (c *Cluster) MustRun(name string, args ...string) string {
	c.T.Helper()
	c.Progressf("$ %s %s", name, strings.Join(args, " "))
	out, err := c.Run(name, args...)
	if err != nil {
		c.T.Fatal(err)
	}
	return out
}

// Shell runs a command line as an admin types it (bash), printing it and
// its output; a failure fails the test.
func (c *Cluster) Shell(line string) string {
	c.T.Helper()
	c.Progressf("$ %s", line)
	out, err := c.Run("bash", "-e", "-o", "pipefail", "-c", line)
	if err != nil {
		c.T.Fatal(err)
	}
	if s := strings.TrimRight(out, "\n"); s != "" {
		fmt.Println(indent(s))
	}
	return out
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

// Kubectl runs the cluster's kubectl.
func (c *Cluster) KubectlOut(args ...string) (string, error) { return c.Run(c.Kubectl, args...) }

// Eventually polls cond every second until it holds or timeout passes; the
// last reason it gave is in the failure.
func (c *Cluster) Eventually(what string, timeout time.Duration, cond func() (bool, string)) {
	c.T.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, why := cond()
		if ok {
			return
		}
		if why != last && why != "" {
			c.Progressf("  waiting for %s: %s", what, why)
			last = why
		}
		if time.Now().After(deadline) {
			c.T.Fatalf("%s: not within %s (last: %s); logs in %s", what, timeout, last, c.Dir)
		}
		time.Sleep(time.Second)
	}
}

// KillContainer SIGKILLs a container's process (a crash).
func (c *Cluster) KillContainer(ns, pod, container string) error {
	return c.Node.Kubelet.KillContainer(ns, pod, container)
}

// SignalContainer sends a signal to a container's process (SIGSTOP and
// SIGCONT: unreachable for a while, then back).
func (c *Cluster) SignalContainer(ns, pod, container string, sig syscall.Signal) error {
	return c.Node.Kubelet.SignalContainer(ns, pod, container, sig)
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}
