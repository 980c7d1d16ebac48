// Command fakeagones stands in for the Agones controller and the Agones SDK
// sidecar on a machine without nodes (the dev cluster of hack/dev-cluster.sh:
// an API server and etcd, no kubelet, no Agones). It is a fake for
// end-to-end runs (hack/e2e.sh), not a way to run Agones.
//
// It watches GameServers (agones.dev/v1). For each new one it
//
//   - gives it a "pod IP" of its own on the loopback network (127.0.0.N), as
//     the operator reads the internal port from a fixed container port
//     (controllers.InternalPort) on the pod's address, and forwards
//     127.0.0.N:<that port> to the process's real internal port;
//   - allocates two free loopback ports, writes the Secrets the game-server
//     container mounts (the ticket signing keys) into a temp dir, and starts
//     the real `gamehall gameserver` with the container's environment
//     (GAMEHALL_PORT / GAMEHALL_INTERNAL_PORT replaced by the ports, mount
//     paths by the temp dir);
//   - serves the Agones SDK REST API for that process on a third port
//     (AGONES_SDK_HTTP_PORT): /ready, /health, /allocate, /shutdown,
//     /gameserver, /metadata/label, /metadata/annotation and
//     /v1beta1/counters/{name}; and writes the GameServer's status the way
//     Agones does (GameServer has no status subresource: the object itself).
//
// A deleted GameServer stops its process (SIGTERM, then SIGKILL after
// --grace). A process exiting non-zero makes the GameServer Unhealthy; one
// exiting cleanly, or after /shutdown, makes it Shutdown, and (as Agones)
// the GameServer is then deleted. Not emulated: health-ping deadlines, port
// policies other than "one free port", Fleets, allocation, player tracking,
// lists.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/gamehall/gamehall/controllers"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("fakeagones", flag.ContinueOnError)
	namespace := fs.String("namespace", "", "watch GameServers in this namespace only (default: all)")
	binary := fs.String("gamehall", "bin/gamehall", "the gamehall binary the game servers run (`gamehall gameserver`)")
	logDir := fs.String("log-dir", "", "directory for each game server's output, <namespace>_<name>.log (default: a temp dir)")
	podPort := fs.Int("pod-internal-port", controllers.InternalPort, "the internal port the operator expects on a pod's address")
	grace := fs.Duration("grace", 10*time.Second, "after SIGTERM, how long a game server may take before SIGKILL")
	config.RegisterFlags(fs) // --kubeconfig
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	log := logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, nil))
	ctrl.SetLogger(log)
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "fakeagones: "+format+"\n", a...)
		return 1
	}
	bin, err := filepath.Abs(*binary)
	if err != nil {
		return fail("%v", err)
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return fail("--gamehall %s: not a binary (run 'make build')", bin)
	}
	if *logDir == "" {
		if *logDir, err = os.MkdirTemp("", "fakeagones-logs-"); err != nil {
			return fail("%v", err)
		}
	}
	if err := os.MkdirAll(*logDir, 0o755); err != nil {
		return fail("%v", err)
	}
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return fail("no Kubernetes API: %v (pass --kubeconfig)", err)
	}
	scheme, err := controllers.NewScheme()
	if err != nil {
		return fail("%v", err)
	}
	opts := ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"}
	if *namespace != "" {
		opts.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{*namespace: {}}}
	}
	mgr, err := ctrl.NewManager(restCfg, opts)
	if err != nil {
		return fail("%v", err)
	}
	ag := &Agones{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Log: log.WithName("fakeagones"),
		Binary: bin, LogDir: *logDir, PodInternalPort: *podPort, Grace: *grace,
	}
	if err := ag.SetupWithManager(mgr); err != nil {
		return fail("%v", err)
	}
	ctx := ctrl.SetupSignalHandler()
	log.Info("fakeagones starting", "namespace", *namespace, "gamehall", bin, "logDir", *logDir)
	err = mgr.Start(ctx)
	// The manager stopped (signal or failure): no game server outlives us.
	ag.StopAll(context.Background())
	if err != nil {
		return fail("%v", err)
	}
	return 0
}
