package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/gamehall/gamehall/controllers"
)

func init() {
	register(command{name: "operator", short: "run the Kubernetes operator (Regions, RoomShards as Agones GameServers, Halls)", run: runOperator})
}

const operatorHelp = `Usage: gamehall operator [flags]

Runs the Kubernetes operator: Regions scaled into RoomShards, each run as an
Agones GameServer, and Halls as a Deployment and Service (make deploy runs it
from config/default, with the rights of config/rbac).

Flags:
`

func runOperator(args []string) int {
	def := controllers.DefaultConfig()
	// One image for everything: config/manager copies the operator's own
	// image into GAMEHALL_IMAGE (make deploy IMG=...).
	image := envStr("GAMEHALL_IMAGE", def.GameServerImage)
	fs := flag.NewFlagSet("gamehall operator", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), operatorHelp)
		fs.PrintDefaults()
	}
	metricsAddr := fs.String("metrics-bind-address", "0", "address of the Prometheus /metrics endpoint (plain HTTP), e.g. :8443; 0 turns it off")
	probeAddr := fs.String("health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	pprofAddr := fs.String("pprof-bind-address", "", "address of Go's /debug/pprof endpoints (profiling, e.g. 127.0.0.1:6060); empty turns them off")
	leaderElect := fs.Bool("leader-elect", false, "elect a leader, so only one of several operator replicas acts")
	namespace := fs.String("namespace", "", "watch only this namespace (default: all; config/namespaced binds the operator's rights there only)")
	leaseNamespace := fs.String("leader-election-namespace", "", "namespace of the leader-election lease (default: the operator pod's own, where config/rbac grants leases)")
	gsImage := fs.String("gameserver-image", image, "image of shards whose Region's pod template names none (env GAMEHALL_IMAGE)")
	hallImage := fs.String("hall-image", image, "image of halls whose spec names none (env GAMEHALL_IMAGE)")
	backoffBase := fs.Duration("replace-backoff", def.ReplaceBackoffBase, "wait before replacing a failed GameServer the first time; doubles per restart")
	backoffMax := fs.Duration("replace-backoff-max", def.ReplaceBackoffMax, "longest wait before replacing a failed GameServer")
	crdWait := fs.Duration("crd-wait", 2*time.Minute, "how long to wait at start for the API server to serve the gamehall CRDs and Agones' GameServer (make deploy applies them with the operator)")
	config.RegisterFlags(fs) // --kubeconfig
	verbose := fs.Bool("v", false, "log debug messages (each scaling step)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	// logr's V(1) maps to slog's Debug.
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	log := ctrl.Log.WithName("operator")

	cfg := def
	cfg.GameServerImage, cfg.HallImage = *gsImage, *hallImage
	cfg.ReplaceBackoffBase, cfg.ReplaceBackoffMax = *backoffBase, *backoffMax

	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "gamehall operator:", err)
		return 1
	}
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return fail(fmt.Errorf("no Kubernetes API to talk to: %w (pass --kubeconfig, or run in a pod)", err))
	}
	mgr, err := newOperatorManager(restCfg, *namespace, ctrl.Options{
		Metrics:                 metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress:  *probeAddr,
		PprofBindAddress:        *pprofAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        "operator.gamehall.dev",
		LeaderElectionNamespace: *leaseNamespace,
	})
	if err != nil {
		return fail(err)
	}
	ctx := ctrl.SetupSignalHandler()
	// Before any watch or index: the manager's REST mapper would fail them
	// with "no matches for kind" while the CRDs are being established.
	if err := controllers.WaitForCRDs(ctx, restCfg, controllers.RequiredResources, controllers.CRDWaitOptions{Timeout: *crdWait}, log); err != nil {
		return fail(err)
	}
	setupCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := controllers.Setup(setupCtx, mgr, cfg); err != nil {
		return fail(err)
	}
	log.Info("starting", "namespace", *namespace, "leaderElect", *leaderElect, "metrics", *metricsAddr, "probes", *probeAddr)
	if err := mgr.Start(ctx); err != nil {
		return fail(err)
	}
	return 0
}

// newOperatorManager is the controller manager on restCfg with the
// operator's scheme, its label-narrowed cache (of one namespace when
// namespace is set) and liveness and readiness checks.
func newOperatorManager(restCfg *rest.Config, namespace string, opts ctrl.Options) (ctrl.Manager, error) {
	scheme, err := controllers.NewScheme()
	if err != nil {
		return nil, err
	}
	opts.Scheme = scheme
	if opts.Cache, err = controllers.CacheOptions(restCfg, namespace); err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(restCfg, opts)
	if err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}
