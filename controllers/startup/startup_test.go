package startup_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/gamehall/gamehall/controllers"
	"github.com/gamehall/gamehall/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	e, err := testenv.StartWith(testenv.Options{NoCRDs: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the test control plane:", err)
	}
	os.Exit(code)
}

// lines is a logger that keeps what it was told.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		l.all = append(l.all, args)
		l.mu.Unlock()
	}, funcr.Options{})
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// The operator started right after `make deploy` finds no CRDs served yet:
// it waits (saying what for), goes on the moment they are, and its
// controllers then start. Without Agones it says how to install it.
func TestOperatorWaitsForItsCRDs(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	want := controllers.RequiredResources

	// The manager is made before the wait (cmd/gamehall operator): its
	// cache's per-kind settings must not need the API server or the CRDs.
	scheme, err := controllers.NewScheme()
	g.Expect(err).NotTo(HaveOccurred())
	cacheOpts, err := controllers.CacheOptions(env.Config, "")
	g.Expect(err).NotTo(HaveOccurred())
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: scheme, Cache: cacheOpts,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	g.Expect(err).NotTo(HaveOccurred(), "the manager, before any CRD is served")

	// One look, nothing installed: both messages.
	err = controllers.WaitForCRDs(ctx, env.Config, want, controllers.CRDWaitOptions{}, logr.Discard())
	g.Expect(err).To(MatchError(And(
		ContainSubstring("the gamehall CRDs regions.gamehall.dev, roomshards.gamehall.dev, halls.gamehall.dev (version v1alpha1) are not served"),
		ContainSubstring("make install"),
		ContainSubstring("the Agones GameServer CRD (gameservers.agones.dev, version v1) is not installed"))))

	// The wait starts before any CRD is installed.
	var log lines
	done := make(chan error, 1)
	go func() {
		done <- controllers.WaitForCRDs(ctx, env.Config, want,
			controllers.CRDWaitOptions{Timeout: 5 * time.Minute, Interval: 50 * time.Millisecond, LogEvery: time.Nanosecond}, log.logger())
	}()
	g.Eventually(log.String, time.Minute).Should(And(
		ContainSubstring(`"msg"="waiting for the API server to serve the CRDs"`),
		ContainSubstring("regions.gamehall.dev/v1alpha1"),
		ContainSubstring("gameservers.agones.dev/v1")))

	g.Expect(env.InstallCRDs(testenv.GamehallCRDs)).To(Succeed())
	// Still waiting, now for Agones only.
	g.Eventually(func() string {
		s := log.String()
		return s[strings.LastIndex(s, "\n")+1:]
	}, time.Minute).Should(ContainSubstring(`"missing"=["gameservers.agones.dev/v1"]`))
	g.Expect(done).NotTo(Receive())
	// With a timeout the message is CheckAgonesCRD's.
	err = controllers.WaitForCRDs(ctx, env.Config, want, controllers.CRDWaitOptions{}, logr.Discard())
	g.Expect(err).To(MatchError(And(
		Not(ContainSubstring("gamehall CRDs")),
		ContainSubstring("the Agones GameServer CRD (gameservers.agones.dev, version v1) is not installed"),
		ContainSubstring("kubectl apply -f config/agones/gameserver-crd.yaml"))))

	g.Expect(env.InstallCRDs(testenv.AgonesCRDs)).To(Succeed())
	g.Eventually(done, time.Minute).Should(Receive(BeNil()))
	g.Expect(log.String()).To(ContainSubstring(`"msg"="the CRDs are served"`))

	// And the operator proceeds: indexes, the three controllers, synced caches.
	g.Expect(controllers.Setup(ctx, mgr, controllers.DefaultConfig())).To(Succeed())
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(ctx) }()
	g.Expect(mgr.GetCache().WaitForCacheSync(ctx)).To(BeTrue())
	cancel()
	g.Eventually(stopped, time.Minute).Should(Receive(BeNil()))
}
