package fakenode

import (
	"context"
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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Restart back-off of crashed containers: the kubelet's starts at 10 s and
// doubles to 5 min; this node's is shorter so tests that kill a process see
// it back in seconds.
const (
	backoffBase = time.Second
	backoffMax  = 10 * time.Second
	// resync is how often mounted Secrets, ConfigMaps and tokens are
	// refreshed (the kubelet: about a minute).
	resync = 2 * time.Second
)

// mountScript runs inside the pod's namespaces (`ip netns exec` gives a
// private mount namespace): it bind-mounts each volume at its mountPath,
// then execs the container's program. Arguments: triples (mountPath,
// source, ro|rw), "--", argv.
const mountScript = `set -e
while [ "$1" != "--" ]; do
  if [ -d "$2" ]; then mkdir -p "$1"; else mkdir -p "$(dirname "$1")"; [ -e "$1" ] || : > "$1"; fi
  mount --bind "$2" "$1"
  if [ "$3" = ro ]; then mount -o remount,bind,ro "$1"; fi
  shift 3
done
shift
exec "$@"`

// podRun is one pod on this node: its sandbox, volumes and containers.
type podRun struct {
	k       *Kubelet
	key     types.NamespacedName
	uid     types.UID
	pod     *corev1.Pod // as first seen: the spec is immutable
	dir     string
	sandbox *Sandbox

	mu         sync.Mutex
	containers []*container
	written    map[string]map[string][]byte // volume → files last written
	waiting    string                       // why the pod is not running yet (reason: message)
	terminated bool
	stopCh     chan struct{}
	grace      time.Duration
	changed    chan struct{} // status to write
	done       chan struct{}
	listeners  []net.Listener
	since      map[corev1.PodConditionType]transition
}

type container struct {
	spec      corev1.Container
	argv      []string
	env       []string
	handler   http.Handler // in-process sidecar
	cmd       *exec.Cmd
	running   bool
	ready     bool
	started   time.Time
	restarts  int32
	lastExit  *corev1.ContainerStateTerminated
	exit      *corev1.ContainerStateTerminated // final (restartPolicy Never)
	waitingOn string
	exited    chan struct{}
}

func newPodRun(k *Kubelet, pod *corev1.Pod) *podRun {
	return &podRun{k: k, key: client.ObjectKeyFromObject(pod), uid: pod.UID, pod: pod.DeepCopy(),
		dir: podDir(k.Dir, pod), stopCh: make(chan struct{}), changed: make(chan struct{}, 1), done: make(chan struct{})}
}

func (r *podRun) log() interface {
	Info(string, ...any)
	Error(error, string, ...any)
} {
	return r.k.Log.WithValues("pod", r.key.String())
}

func (r *podRun) notify() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// terminate stops the pod: SIGTERM to every container, SIGKILL after grace.
func (r *podRun) terminate(grace time.Duration, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.terminated {
		return
	}
	r.terminated, r.grace = true, grace
	r.log().Info("stopping pod", "why", why, "grace", grace)
	close(r.stopCh)
}

// main sets the pod up, runs its containers until it is stopped, then
// cleans up and (if the pod is being deleted) removes its object.
func (r *podRun) main() {
	defer close(r.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.statusWriter(ctx)
	r.notify()
	for !r.setUp(ctx) {
		select {
		case <-r.stopCh:
			r.tearDown()
			return
		case <-time.After(2 * time.Second):
		}
	}
	var wg sync.WaitGroup
	for _, c := range r.containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runContainer(ctx, c)
		}()
		go r.probe(ctx, c)
	}
	go r.syncVolumes(ctx)
	wg.Wait()
	r.tearDown()
}

// setUp makes the sandbox and volumes and resolves every container; on an
// error the pod waits (with the reason in its status) and setUp is retried.
func (r *podRun) setUp(ctx context.Context) bool {
	fail := func(reason string, err error) bool {
		msg := reason + ": " + err.Error()
		r.mu.Lock()
		first := r.waiting != msg
		r.waiting = msg
		r.mu.Unlock()
		if first {
			r.log().Error(err, "pod cannot start", "reason", reason)
			r.k.event(r.pod, true, "Failed", "%s", err)
		}
		r.notify()
		return false
	}
	if err := ensureDir(r.dir); err != nil {
		return fail("CreatePodSandboxError", err)
	}
	if r.sandbox == nil {
		sb, err := r.k.Net.NewSandbox(ResolvConf(r.pod.Namespace, r.k.Net.ServiceIP(10)))
		if err != nil {
			return fail("CreatePodSandboxError", err)
		}
		r.sandbox = sb
	}
	files, err := r.k.volumeFiles(ctx, r.pod, r.sandbox.IP.String())
	if err != nil {
		return fail("CreateContainerConfigError", err)
	}
	if err := r.writeVolumes(files); err != nil {
		return fail("CreateContainerConfigError", err)
	}
	kubeIP, err := r.k.kubernetesService(ctx)
	if err != nil {
		return fail("CreateContainerConfigError", err)
	}
	var cs []*container
	for _, spec := range r.pod.Spec.Containers {
		c := &container{spec: spec}
		if h, ok := r.k.Sidecars[spec.Image]; ok {
			c.handler = h(r.pod)
		} else {
			if c.argv, err = r.k.Images.Command(&spec); err != nil {
				return fail("ErrImagePull", err)
			}
			if c.env, err = r.env(ctx, &spec, kubeIP); err != nil {
				return fail("CreateContainerConfigError", err)
			}
			c.argv = append(c.argv[:1], expandAll(c.argv[1:], c.env)...)
			if _, err := r.mountArgs(&spec); err != nil {
				return fail("CreateContainerConfigError", err)
			}
		}
		if p := unsupportedProbe(&spec); p != "" {
			return fail("CreateContainerConfigError", fmt.Errorf("container %q: its %s is not supported by this node stand-in (httpGet and tcpSocket are)", spec.Name, p))
		}
		cs = append(cs, c)
	}
	if err := r.hostPorts(); err != nil {
		return fail("CreatePodSandboxError", err)
	}
	r.mu.Lock()
	r.containers, r.waiting = cs, ""
	r.mu.Unlock()
	r.notify()
	return true
}

func (r *podRun) writeVolumes(files map[string]map[string][]byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.written == nil {
		r.written = map[string]map[string][]byte{}
	}
	for name, f := range files {
		dir := filepath.Join(r.dir, "volumes", name)
		if f == nil { // emptyDir
			if err := ensureDir(dir); err != nil {
				return err
			}
			continue
		}
		prev, seen := r.written[name]
		if !seen {
			prev = nil
		}
		if _, err := writeVolume(dir, f, prev); err != nil {
			return err
		}
		r.written[name] = f
	}
	return nil
}

// syncVolumes keeps mounted Secrets, ConfigMaps and tokens current, as the
// kubelet does (a rotated key reaches the running process).
func (r *podRun) syncVolumes(ctx context.Context) {
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		select {
		case <-r.stopCh:
			return
		case <-t.C:
		}
		files, err := r.k.volumeFiles(ctx, r.pod, r.sandbox.IP.String())
		if err != nil {
			r.log().Info("cannot refresh volumes", "err", err.Error())
			continue
		}
		if err := r.writeVolumes(files); err != nil {
			r.log().Error(err, "cannot refresh volumes")
		}
	}
}

// env is the container's environment as the kubelet builds it.
func (r *podRun) env(ctx context.Context, c *corev1.Container, kubeIP string) ([]string, error) {
	vars := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOSTNAME=" + r.pod.Name,
		"KUBERNETES_SERVICE_HOST=" + kubeIP, "KUBERNETES_SERVICE_PORT=443", "KUBERNETES_SERVICE_PORT_HTTPS=443",
		"KUBERNETES_PORT=tcp://" + kubeIP + ":443",
	}
	set := func(name, value string) {
		for i, v := range vars {
			if strings.HasPrefix(v, name+"=") {
				vars[i] = name + "=" + value
				return
			}
		}
		vars = append(vars, name+"="+value)
	}
	for _, from := range c.EnvFrom {
		files := map[string][]byte{}
		var err error
		switch {
		case from.SecretRef != nil:
			err = r.k.secretFiles(ctx, r.pod.Namespace, from.SecretRef.Name, nil, from.SecretRef.Optional, files)
		case from.ConfigMapRef != nil:
			err = r.k.configMapFiles(ctx, r.pod.Namespace, from.ConfigMapRef.Name, nil, from.ConfigMapRef.Optional, files)
		}
		if err != nil {
			return nil, fmt.Errorf("envFrom: %w", err)
		}
		for k, v := range files {
			set(from.Prefix+k, string(v))
		}
	}
	for _, e := range c.Env {
		v := expand(e.Value, vars)
		if e.ValueFrom != nil {
			files := map[string][]byte{}
			switch src := e.ValueFrom; {
			case src.FieldRef != nil:
				fv, err := fieldValue(r.pod, r.sandbox.IP.String(), src.FieldRef.FieldPath)
				if err != nil {
					return nil, fmt.Errorf("env %s: %w", e.Name, err)
				}
				v = fv
			case src.SecretKeyRef != nil:
				items := []corev1.KeyToPath{{Key: src.SecretKeyRef.Key, Path: "v"}}
				if err := r.k.secretFiles(ctx, r.pod.Namespace, src.SecretKeyRef.Name, items, src.SecretKeyRef.Optional, files); err != nil {
					return nil, fmt.Errorf("env %s: %w", e.Name, err)
				}
				v = string(files["v"])
			case src.ConfigMapKeyRef != nil:
				items := []corev1.KeyToPath{{Key: src.ConfigMapKeyRef.Key, Path: "v"}}
				if err := r.k.configMapFiles(ctx, r.pod.Namespace, src.ConfigMapKeyRef.Name, items, src.ConfigMapKeyRef.Optional, files); err != nil {
					return nil, fmt.Errorf("env %s: %w", e.Name, err)
				}
				v = string(files["v"])
			default:
				return nil, fmt.Errorf("env %s: this valueFrom is not supported by this node stand-in", e.Name)
			}
		}
		set(e.Name, v)
	}
	return vars, nil
}

// expand replaces $(VAR) by VAR's value when VAR is defined; $$ is a
// literal $ (Kubernetes' rules for command, args and env values).
func expand(s string, vars []string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) {
			if s[i+1] == '$' {
				b.WriteByte('$')
				i++
				continue
			}
			if s[i+1] == '(' {
				if end := strings.IndexByte(s[i:], ')'); end > 0 {
					name := s[i+2 : i+end]
					if v, ok := lookup(vars, name); ok {
						b.WriteString(v)
						i += end
						continue
					}
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func expandAll(args []string, vars []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = expand(a, vars)
	}
	return out
}

func lookup(vars []string, name string) (string, bool) {
	for _, v := range vars {
		if k, val, _ := strings.Cut(v, "="); k == name {
			return val, true
		}
	}
	return "", false
}

// mountArgs are mountScript's triples for the container's volume mounts.
func (r *podRun) mountArgs(c *corev1.Container) ([]string, error) {
	var out []string
	for _, m := range c.VolumeMounts {
		if _, ok := r.written[m.Name]; !ok && !r.isEmptyDir(m.Name) {
			return nil, fmt.Errorf("container %q mounts volume %q, which the pod does not have", c.Name, m.Name)
		}
		src := filepath.Join(r.dir, "volumes", m.Name)
		if m.SubPath != "" {
			src = filepath.Join(src, m.SubPath)
			if _, err := os.Stat(src); err != nil {
				return nil, fmt.Errorf("container %q: subPath %q of volume %q: %w", c.Name, m.SubPath, m.Name, err)
			}
		}
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		out = append(out, m.MountPath, src, mode)
	}
	return out, nil
}

func (r *podRun) isEmptyDir(name string) bool {
	for _, v := range r.pod.Spec.Volumes {
		if v.Name == name && v.EmptyDir != nil {
			return true
		}
	}
	return false
}

// hostPorts forwards NodeIP:hostPort to podIP:containerPort (the CNI
// portmap plugin's job), as Agones' game-server ports need.
func (r *podRun) hostPorts() error {
	for _, c := range r.pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 || (p.Protocol != "" && p.Protocol != corev1.ProtocolTCP) {
				continue
			}
			ln, err := net.Listen("tcp", net.JoinHostPort(r.k.Net.NodeIP.String(), strconv.Itoa(int(p.HostPort))))
			if err != nil {
				return fmt.Errorf("hostPort %d: %w", p.HostPort, err)
			}
			r.mu.Lock()
			r.listeners = append(r.listeners, ln)
			r.mu.Unlock()
			go forward(ln, func() string { return net.JoinHostPort(r.sandbox.IP.String(), strconv.Itoa(int(p.ContainerPort))) })
		}
	}
	return nil
}

// runContainer runs one container until the pod stops, restarting it as
// the pod's restartPolicy says.
func (r *podRun) runContainer(ctx context.Context, c *container) {
	if c.handler != nil {
		r.serveSidecar(c)
		return
	}
	backoff := backoffBase
	for {
		exit, err := r.startProcess(c)
		if err != nil {
			r.log().Error(err, "cannot start container", "container", c.spec.Name)
		}
		var stopped bool
		select {
		case <-r.stopCh:
			stopped = true
			r.kill(c)
			<-c.exited
		case <-c.exited:
		}
		if stopped {
			return
		}
		r.mu.Lock()
		st := c.lastExit
		r.mu.Unlock()
		policy := r.pod.Spec.RestartPolicy
		if policy == corev1.RestartPolicyNever || (policy == corev1.RestartPolicyOnFailure && st != nil && st.ExitCode == 0) {
			r.mu.Lock()
			c.exit = st
			r.mu.Unlock()
			r.notify()
			<-r.stopCh
			return
		}
		if exit != nil && time.Since(c.started) > 10*backoffMax {
			backoff = backoffBase
		}
		r.mu.Lock()
		c.waitingOn = "CrashLoopBackOff"
		r.mu.Unlock()
		r.notify()
		r.k.event(r.pod, true, "BackOff", "Back-off restarting failed container %s (exit %d)", c.spec.Name, exitCode(st))
		select {
		case <-r.stopCh:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, backoffMax)
		r.mu.Lock()
		c.restarts++
		r.mu.Unlock()
	}
}

func exitCode(st *corev1.ContainerStateTerminated) int32 {
	if st == nil {
		return -1
	}
	return st.ExitCode
}

// startProcess starts the container's process in the pod's namespaces and
// returns a channel closed when it ends (c.lastExit set).
func (r *podRun) startProcess(c *container) (chan struct{}, error) {
	c.exited = make(chan struct{})
	mounts, err := r.mountArgs(&c.spec)
	if err == nil {
		err = ensureDir(filepath.Dir(r.k.LogPath(r.key.Namespace, r.key.Name, c.spec.Name)))
	}
	var logf *os.File
	if err == nil {
		logf, err = os.OpenFile(r.k.LogPath(r.key.Namespace, r.key.Name, c.spec.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	}
	if err == nil {
		args := append([]string{"netns", "exec", r.sandbox.Name, "/bin/sh", "-c", mountScript, "sh"}, mounts...)
		args = append(append(args, "--"), c.argv...)
		cmd := exec.Command("ip", args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = c.env, logf, logf
		cmd.Dir = r.dir
		if c.spec.WorkingDir != "" {
			cmd.Dir = c.spec.WorkingDir
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		fmt.Fprintf(logf, "--- %s fakenode: starting %q\n", time.Now().Format(time.RFC3339), c.argv)
		err = cmd.Start()
		if err == nil {
			r.mu.Lock()
			c.cmd, c.running, c.ready, c.started, c.waitingOn = cmd, true, false, time.Now(), ""
			r.mu.Unlock()
			r.k.event(r.pod, false, "Started", "Started container %s (%s)", c.spec.Name, strings.Join(c.argv, " "))
			r.notify()
			go func() {
				werr := cmd.Wait()
				logf.Close()
				code := int32(0)
				reason := "Completed"
				var ee *exec.ExitError
				if errors.As(werr, &ee) {
					code = int32(ee.ExitCode())
					if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
						code = 128 + int32(ws.Signal())
					}
					reason = "Error"
				}
				r.mu.Lock()
				c.running, c.ready = false, false
				c.lastExit = &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason,
					StartedAt: metav1.NewTime(c.started), FinishedAt: metav1.Now()}
				r.mu.Unlock()
				r.log().Info("container exited", "container", c.spec.Name, "exitCode", code)
				r.notify()
				close(c.exited)
			}()
			return c.exited, nil
		}
		logf.Close()
	}
	r.mu.Lock()
	c.lastExit = &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error(), FinishedAt: metav1.Now()}
	r.mu.Unlock()
	close(c.exited)
	return c.exited, err
}

// kill ends a container: SIGTERM, SIGKILL after the grace period.
func (r *podRun) kill(c *container) {
	r.mu.Lock()
	cmd, grace := c.cmd, r.grace
	running := c.running
	r.mu.Unlock()
	if cmd == nil || !running {
		return
	}
	r.k.event(r.pod, false, "Killing", "Stopping container %s", c.spec.Name)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
	}
}

// KillContainer SIGKILLs a container's process (a crash, for fault tests):
// the pod's restart policy then applies.
func (k *Kubelet) KillContainer(ns, pod, name string) error {
	return k.SignalContainer(ns, pod, name, syscall.SIGKILL)
}

// SignalContainer sends sig to a container's process: SIGSTOP and SIGCONT
// make a process unreachable for a while without ending it (fault tests).
func (k *Kubelet) SignalContainer(ns, pod, name string, sig syscall.Signal) error {
	k.mu.Lock()
	var run *podRun
	for _, r := range k.runs {
		if r.key.Namespace == ns && r.key.Name == pod {
			run = r
		}
	}
	k.mu.Unlock()
	if run == nil {
		return fmt.Errorf("pod %s/%s does not run on this node", ns, pod)
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	for _, c := range run.containers {
		if c.spec.Name == name || name == "" {
			if c.cmd != nil && c.running {
				return c.cmd.Process.Signal(sig)
			}
		}
	}
	return fmt.Errorf("pod %s/%s: no running container %q", ns, pod, name)
}

func (r *podRun) serveSidecar(c *container) {
	port := "9358"
	for _, e := range c.spec.Env {
		if e.Name == "AGONES_SDK_HTTP_PORT" {
			port = e.Value
		}
	}
	ln, err := r.sandbox.Listen("127.0.0.1:" + port)
	if err != nil {
		r.log().Error(err, "sidecar cannot listen", "container", c.spec.Name)
		r.mu.Lock()
		c.lastExit = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: err.Error(), FinishedAt: metav1.Now()}
		r.mu.Unlock()
		r.notify()
		<-r.stopCh
		return
	}
	srv := &http.Server{Handler: c.handler, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	r.mu.Lock()
	c.running, c.ready, c.started = true, true, time.Now()
	r.mu.Unlock()
	r.notify()
	<-r.stopCh
	srv.Close()
	r.mu.Lock()
	c.running, c.ready = false, false
	r.mu.Unlock()
}

// tearDown frees the sandbox and files; a deleted pod's object goes.
func (r *podRun) tearDown() {
	r.mu.Lock()
	for _, ln := range r.listeners {
		ln.Close()
	}
	r.mu.Unlock()
	if r.sandbox != nil {
		r.k.Net.DeleteSandbox(r.sandbox)
	}
	os.RemoveAll(r.dir)
	r.k.mu.Lock()
	delete(r.k.runs, r.uid)
	r.k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var pod corev1.Pod
	if err := r.k.Client.Get(ctx, r.key, &pod); err == nil && pod.UID == r.uid && !pod.DeletionTimestamp.IsZero() {
		if err := r.k.finishDelete(ctx, &pod); err != nil {
			r.log().Error(err, "cannot remove the deleted pod")
		}
	}
}

// forward copies each connection accepted on ln to target() and back.
func forward(ln net.Listener, target func() string) {
	for {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		go proxyConn(in, target())
	}
}

func proxyConn(in net.Conn, target string) {
	defer in.Close()
	if target == "" {
		return
	}
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
}
