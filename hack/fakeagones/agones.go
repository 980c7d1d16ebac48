package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
)

// Agones plays the Agones controller: one running Process per GameServer.
type Agones struct {
	Client client.Client // cached reads, writes
	Reader client.Reader // uncached reads (Secrets are not cached)
	Log    logr.Logger

	Binary          string        // gamehall
	LogDir          string        // per-process output
	PodInternalPort int           // forwarded on each pod IP
	Grace           time.Duration // SIGTERM → SIGKILL

	mu    sync.Mutex
	procs map[types.NamespacedName]*Process
	ips   map[string]bool // pod IPs in use
}

// SetupWithManager reconciles every GameServer event.
func (a *Agones) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&agonesv1.GameServer{}).Named("fakeagones").Complete(a)
}

// Reconcile starts a process for a new GameServer and stops the process of
// a deleted (or deleting) one.
func (a *Agones) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var gs agonesv1.GameServer
	err := a.Client.Get(ctx, req.NamespacedName, &gs)
	if client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	a.mu.Lock()
	p := a.procs[req.NamespacedName]
	a.mu.Unlock()
	gone := apierrors.IsNotFound(err) || !gs.DeletionTimestamp.IsZero()
	if p != nil && (gone || p.uid != gs.UID) {
		// Deleted (or replaced by a namesake): like a pod deletion, SIGTERM.
		a.stop(req.NamespacedName, p, "GameServer deleted")
		p = nil
	}
	if gone || p != nil {
		return ctrl.Result{}, nil
	}
	switch gs.Status.State {
	case "", agonesv1.GameServerStateCreating, agonesv1.GameServerStatePortAllocation, agonesv1.GameServerStateStarting:
	default:
		// Seen before a restart of fakeagones, or already finished: a
		// process we did not start cannot be adopted.
		return ctrl.Result{}, nil
	}
	if err := a.start(ctx, &gs); err != nil {
		a.Log.Error(err, "cannot start the game server", "gameServer", req.NamespacedName)
		// As a pod that cannot start: the GameServer goes Error.
		if perr := patchGameServer(ctx, a.Client, &gs, map[string]any{"status": map[string]any{"state": agonesv1.GameServerStateError}}); perr != nil {
			return ctrl.Result{}, perr
		}
	}
	return ctrl.Result{}, nil
}

// Process is one game server: its OS process, its sidecar and its pod IP.
type Process struct {
	key     types.NamespacedName
	uid     types.UID
	podIP   string
	ports   map[string]int32 // GameServer port name → host port
	sdkPort int
	cmd     *exec.Cmd
	dir     string // signing keys and other Secret volumes
	sidecar *http.Server
	proxy   net.Listener
	done    chan struct{} // closed when the process exited

	mu       sync.Mutex
	stopping bool // we asked it to end: its exit is no failure
	shutdown bool // it asked (POST /shutdown)
}

func (a *Agones) start(ctx context.Context, gs *agonesv1.GameServer) error {
	key := client.ObjectKeyFromObject(gs)
	log := a.Log.WithValues("gameServer", key)
	c, err := container(gs)
	if err != nil {
		return err
	}
	p := &Process{key: key, uid: gs.UID, ports: map[string]int32{}, done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			p.release(a)
		}
	}()
	if p.dir, err = os.MkdirTemp("", "fakeagones-"+gs.Name+"-"); err != nil {
		return err
	}
	mounts, err := a.materializeSecrets(ctx, gs, c, p.dir)
	if err != nil {
		return err
	}
	playersPort, err := freePort()
	if err != nil {
		return err
	}
	internalPort, err := freePort()
	if err != nil {
		return err
	}
	if err := a.listenPodIP(p, internalPort); err != nil {
		return err
	}
	// Status ports: the one the container's GAMEHALL_PORT names is the
	// players' port; any other gets a free port nobody listens on.
	envPort := envValue(c, "GAMEHALL_PORT")
	for _, sp := range gs.Spec.Ports {
		if strconv.Itoa(int(sp.ContainerPort)) == envPort {
			p.ports[sp.Name] = int32(playersPort)
			continue
		}
		other, err := freePort()
		if err != nil {
			return err
		}
		p.ports[sp.Name] = int32(other)
	}

	sdkLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	p.sdkPort = sdkLn.Addr().(*net.TCPAddr).Port
	p.sidecar = &http.Server{Handler: &Sidecar{Client: a.Client, Key: key, Proc: p, Agones: a, Log: log.WithName("sdk")}, ReadHeaderTimeout: 10 * time.Second}
	go p.sidecar.Serve(sdkLn)

	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			log.Info("env valueFrom is not supported here: left out", "name", e.Name)
			continue
		}
		for path, local := range mounts {
			if v == path || strings.HasPrefix(v, path+"/") {
				v = local + strings.TrimPrefix(v, path)
			}
		}
		switch e.Name {
		case "GAMEHALL_PORT":
			v = strconv.Itoa(playersPort)
		case "GAMEHALL_INTERNAL_PORT":
			v = strconv.Itoa(internalPort)
		case "AGONES_SDK_HTTP_PORT", "AGONES_SDK_GRPC_PORT":
			continue
		}
		env = append(env, e.Name+"="+v)
	}
	env = append(env, "AGONES_SDK_HTTP_PORT="+strconv.Itoa(p.sdkPort))
	args := []string{"gameserver"}
	if len(c.Args) > 0 && c.Args[0] == "gameserver" {
		args = c.Args
	}
	logFile, err := os.Create(filepath.Join(a.LogDir, gs.Namespace+"_"+gs.Name+".log"))
	if err != nil {
		return err
	}
	p.cmd = exec.Command(a.Binary, args...)
	p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr, p.cmd.Dir = env, logFile, logFile, p.dir
	// Its own process group: a Ctrl-C meant for fakeagones reaches the game
	// servers through StopAll, in order, not all at once from the terminal.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", a.Binary, err)
	}
	a.mu.Lock()
	if a.procs == nil {
		a.procs = map[types.NamespacedName]*Process{}
	}
	a.procs[key] = p
	a.mu.Unlock()
	ok = true
	log.Info("game server started", "pid", p.cmd.Process.Pid, "podIP", p.podIP, "players", playersPort, "internal", internalPort, "sdk", p.sdkPort)

	// Scheduled, with the addresses and ports Agones would allocate, and the
	// counters copied from the spec (Agones does that on creation).
	counters := map[string]any{}
	for name, cs := range gs.Spec.Counters {
		counters[name] = map[string]any{"count": cs.Count, "capacity": cs.Capacity}
	}
	ports := []map[string]any{}
	for _, sp := range gs.Spec.Ports {
		ports = append(ports, map[string]any{"name": sp.Name, "port": p.ports[sp.Name]})
	}
	status := map[string]any{
		"state": agonesv1.GameServerStateScheduled, "address": "127.0.0.1", "nodeName": "localhost", "ports": ports,
		"addresses": []map[string]any{{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "PodIP", "address": p.podIP}},
		"counters":  counters,
	}
	if err := patchGameServer(ctx, a.Client, gs, map[string]any{"status": status}); err != nil {
		log.Error(err, "cannot write the Scheduled status")
	}

	go func() {
		exitErr := p.cmd.Wait()
		logFile.Close()
		close(p.done)
		a.exited(p, exitErr)
	}()
	return nil
}

// exited records the end of a process on its GameServer, as the kubelet
// and Agones would: a crash is Unhealthy, a clean end Shutdown (and
// deleted).
func (a *Agones) exited(p *Process, exitErr error) {
	p.mu.Lock()
	stopping, shutdown := p.stopping, p.shutdown
	p.mu.Unlock()
	log := a.Log.WithValues("gameServer", p.key)
	a.mu.Lock()
	if a.procs[p.key] == p {
		delete(a.procs, p.key)
	}
	a.mu.Unlock()
	p.release(a)
	if stopping {
		log.Info("game server stopped", "exit", exitText(exitErr))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var gs agonesv1.GameServer
	if err := a.Client.Get(ctx, p.key, &gs); err != nil || gs.UID != p.uid {
		return
	}
	if exitErr != nil && !shutdown {
		log.Info("game server exited with an error: Unhealthy", "exit", exitText(exitErr))
		if perr := patchGameServer(ctx, a.Client, &gs, map[string]any{"status": map[string]any{"state": agonesv1.GameServerStateUnhealthy}}); perr != nil {
			log.Error(perr, "cannot mark the GameServer Unhealthy")
		}
		return
	}
	log.Info("game server ended: Shutdown, deleting the GameServer", "exit", exitText(exitErr), "shutdownRequested", shutdown)
	if perr := patchGameServer(ctx, a.Client, &gs, map[string]any{"status": map[string]any{"state": agonesv1.GameServerStateShutdown}}); perr != nil {
		log.Error(perr, "cannot mark the GameServer Shutdown")
	}
	if derr := a.Client.Delete(ctx, &gs, client.Preconditions{UID: &p.uid}); client.IgnoreNotFound(derr) != nil {
		log.Error(derr, "cannot delete the Shutdown GameServer")
	}
}

func exitText(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

// stop ends p: SIGTERM (the game server drains), SIGKILL after Grace.
func (a *Agones) stop(key types.NamespacedName, p *Process, why string) {
	p.mu.Lock()
	already := p.stopping
	p.stopping = true
	p.mu.Unlock()
	if already || p.cmd == nil {
		return
	}
	a.Log.Info("stopping game server", "gameServer", key, "why", why)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	go func() {
		select {
		case <-p.done:
		case <-time.After(a.Grace):
			a.Log.Info("game server ignored SIGTERM: killing it", "gameServer", key, "grace", a.Grace)
			_ = p.cmd.Process.Kill()
		}
	}()
}

// StopAll stops every process and waits for them (at most Grace + 5 s).
func (a *Agones) StopAll(ctx context.Context) {
	a.mu.Lock()
	procs := make([]*Process, 0, len(a.procs))
	for _, p := range a.procs {
		procs = append(procs, p)
	}
	a.mu.Unlock()
	for _, p := range procs {
		a.stop(p.key, p, "fakeagones stopping")
	}
	deadline := time.After(a.Grace + 5*time.Second)
	for _, p := range procs {
		select {
		case <-p.done:
		case <-deadline:
			return
		case <-ctx.Done():
			return
		}
	}
}

// release frees what start took (except the OS process).
func (p *Process) release(a *Agones) {
	if p.sidecar != nil {
		p.sidecar.Close()
	}
	if p.proxy != nil {
		p.proxy.Close()
	}
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
	if p.podIP != "" {
		a.mu.Lock()
		delete(a.ips, p.podIP)
		a.mu.Unlock()
	}
}

// listenPodIP picks a free loopback address 127.0.0.N (N ≥ 2) for p and
// forwards N:PodInternalPort to the process's internal port.
func (a *Agones) listenPodIP(p *Process, internalPort int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ips == nil {
		a.ips = map[string]bool{}
	}
	var lastErr error
	for n := 2; n < 255*255; n++ {
		ip := fmt.Sprintf("127.0.%d.%d", n/255, n%255)
		if n%255 == 0 || a.ips[ip] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(a.PodInternalPort)))
		if err != nil {
			lastErr = err
			if n > 64 && len(a.ips) == 0 {
				break // the port is taken on every address (e.g. 0.0.0.0)
			}
			continue
		}
		a.ips[ip], p.podIP, p.proxy = true, ip, ln
		go forward(ln, "127.0.0.1:"+strconv.Itoa(internalPort))
		return nil
	}
	return fmt.Errorf("no loopback address with port %d free for a pod IP: %w", a.PodInternalPort, lastErr)
}

// forward copies each connection accepted on ln to target and back.
func forward(ln net.Listener, target string) {
	for {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			out, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				return
			}
			defer out.Close()
			done := make(chan struct{}, 2)
			cp := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if n > 0 {
						if _, werr := dst.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				done <- struct{}{}
			}
			go cp(out, in)
			go cp(in, out)
			<-done
			<-done
		}()
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// container is the GameServer's game-server container (spec.container, or
// the only one).
func container(gs *agonesv1.GameServer) (*corev1.Container, error) {
	cs := gs.Spec.Template.Spec.Containers
	for i := range cs {
		if cs[i].Name == gs.Spec.Container {
			return &cs[i], nil
		}
	}
	if len(cs) == 1 && gs.Spec.Container == "" {
		return &cs[0], nil
	}
	return nil, fmt.Errorf("GameServer %s/%s: no container %q in its template", gs.Namespace, gs.Name, gs.Spec.Container)
}

func envValue(c *corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// materializeSecrets writes each Secret volume the container mounts into
// dir/<volume> (one file per key, as the kubelet does) and returns mount
// path → local directory.
func (a *Agones) materializeSecrets(ctx context.Context, gs *agonesv1.GameServer, c *corev1.Container, dir string) (map[string]string, error) {
	vols := map[string]*corev1.SecretVolumeSource{}
	for _, v := range gs.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			vols[v.Name] = v.Secret
		}
	}
	out := map[string]string{}
	for _, m := range c.VolumeMounts {
		src := vols[m.Name]
		if src == nil {
			continue
		}
		var sec corev1.Secret
		if err := a.Reader.Get(ctx, types.NamespacedName{Namespace: gs.Namespace, Name: src.SecretName}, &sec); err != nil {
			if apierrors.IsNotFound(err) && src.Optional != nil && *src.Optional {
				continue
			}
			return nil, fmt.Errorf("volume %q: Secret %s/%s: %w", m.Name, gs.Namespace, src.SecretName, err)
		}
		local := filepath.Join(dir, m.Name)
		if err := os.MkdirAll(local, 0o700); err != nil {
			return nil, err
		}
		for k, v := range sec.Data {
			if m.SubPath != "" && k != m.SubPath {
				continue
			}
			if err := os.WriteFile(filepath.Join(local, k), v, 0o600); err != nil {
				return nil, err
			}
		}
		if m.SubPath != "" {
			local = filepath.Join(local, m.SubPath)
		}
		out[m.MountPath] = local
	}
	return out, nil
}

// patchGameServer merge-patches the GameServer object (Agones' CRD has no
// status subresource, so status is written on the object itself). No
// resourceVersion: only this fake writes status, and the operator's label
// patches must not conflict with it.
func patchGameServer(ctx context.Context, c client.Client, gs *agonesv1.GameServer, patch map[string]any) error {
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, gs, client.RawPatch(types.MergePatchType, body)); err != nil {
		if apierrors.IsNotFound(err) {
			return errGone
		}
		return err
	}
	return nil
}

var errGone = errors.New("the GameServer is gone")
