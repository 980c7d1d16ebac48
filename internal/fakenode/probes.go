package fakenode

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func unsupportedProbe(c *corev1.Container) string {
	for name, p := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe, "startupProbe": c.StartupProbe} {
		if p != nil && p.HTTPGet == nil && p.TCPSocket == nil {
			return name
		}
		if p != nil && p.HTTPGet != nil && p.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			return name + " over HTTPS"
		}
	}
	return ""
}

// probe runs a container's startup, readiness and liveness probes as the
// kubelet does (initial delay, period, thresholds, timeout), from the node
// to the pod's IP. Without a readiness probe a running container is ready.
func (r *podRun) probe(ctx context.Context, c *container) {
	if c.handler != nil {
		return
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	type state struct {
		next       time.Time
		succ, fail int32
		ok         bool
	}
	var ready, live, startup state
	var startedAt time.Time
	for {
		select {
		case <-r.stopCh:
			return
		case <-tick.C:
		}
		r.mu.Lock()
		running, started := c.running, c.started
		r.mu.Unlock()
		if !running {
			continue
		}
		if started != startedAt { // a new process: probes start over
			startedAt = started
			ready, live, startup = state{next: started.Add(delay(c.spec.ReadinessProbe))}, state{next: started.Add(delay(c.spec.LivenessProbe))}, state{next: started.Add(delay(c.spec.StartupProbe))}
		}
		now := time.Now()
		if p := c.spec.StartupProbe; p != nil && !startup.ok {
			if now.After(startup.next) {
				startup.next = now.Add(period(p))
				if r.check(p, &c.spec) {
					startup.ok = true
				} else if startup.fail++; startup.fail >= threshold(p.FailureThreshold, 3) {
					r.k.event(r.pod, true, "Unhealthy", "Startup probe failed %d times: restarting %s", startup.fail, c.spec.Name)
					r.restart(c)
				}
			}
			continue
		}
		if p := c.spec.ReadinessProbe; p == nil {
			r.setReady(c, started, true)
		} else if now.After(ready.next) {
			ready.next = now.Add(period(p))
			if r.check(p, &c.spec) {
				ready.fail = 0
				if ready.succ++; ready.succ >= threshold(p.SuccessThreshold, 1) {
					r.setReady(c, started, true)
				}
			} else {
				ready.succ = 0
				if ready.fail++; ready.fail >= threshold(p.FailureThreshold, 3) {
					r.setReady(c, started, false)
				}
			}
		}
		if p := c.spec.LivenessProbe; p != nil && now.After(live.next) {
			live.next = now.Add(period(p))
			if r.check(p, &c.spec) {
				live.fail = 0
			} else if live.fail++; live.fail >= threshold(p.FailureThreshold, 3) {
				r.k.event(r.pod, true, "Unhealthy", "Liveness probe failed %d times: restarting %s", live.fail, c.spec.Name)
				live.fail = 0
				r.restart(c)
			}
		}
	}
}

func (r *podRun) setReady(c *container, started time.Time, ok bool) {
	r.mu.Lock()
	changed := c.started == started && c.running && c.ready != ok
	if changed {
		c.ready = ok
	}
	r.mu.Unlock()
	if changed {
		r.notify()
	}
}

// restart ends a container's process; runContainer starts it again.
func (r *podRun) restart(c *container) {
	r.mu.Lock()
	cmd := c.cmd
	r.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
	}
}

func delay(p *corev1.Probe) time.Duration {
	if p == nil {
		return 0
	}
	return time.Duration(p.InitialDelaySeconds) * time.Second
}

func period(p *corev1.Probe) time.Duration {
	if p.PeriodSeconds > 0 {
		return time.Duration(p.PeriodSeconds) * time.Second
	}
	return 10 * time.Second
}

func threshold(v, def int32) int32 {
	if v > 0 {
		return v
	}
	return def
}

// check runs one probe against the pod's IP.
func (r *podRun) check(p *corev1.Probe, c *corev1.Container) bool {
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	host := r.sandbox.IP.String()
	switch {
	case p.HTTPGet != nil:
		if p.HTTPGet.Host != "" {
			host = p.HTTPGet.Host
		}
		port, ok := portOf(p.HTTPGet.Port, c)
		if !ok {
			return false
		}
		cl := http.Client{Timeout: timeout}
		resp, err := cl.Get("http://" + net.JoinHostPort(host, strconv.Itoa(port)) + p.HTTPGet.Path)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 400
	case p.TCPSocket != nil:
		port, ok := portOf(p.TCPSocket.Port, c)
		if !ok {
			return false
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), timeout)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	}
	return false
}

// portOf resolves a probe's or Service's port: a number, or the name of a
// container port.
func portOf(p intstr.IntOrString, c *corev1.Container) (int, bool) {
	if p.Type == intstr.Int {
		return p.IntValue(), p.IntValue() > 0
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), true
		}
	}
	return 0, false
}

// statusWriter writes the pod's status whenever it changes (at most every
// 100 ms), computed from what the node observes now.
func (r *podRun) statusWriter(ctx context.Context) {
	var last []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.changed:
		}
		st := r.status()
		body, err := json.Marshal(map[string]any{"status": st})
		if err != nil || string(body) == string(last) {
			continue
		}
		for attempt := 0; attempt < 5; attempt++ {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			pod := &corev1.Pod{}
			pod.Namespace, pod.Name = r.key.Namespace, r.key.Name
			err = r.k.Client.Status().Patch(pctx, pod, client.RawPatch(types.MergePatchType, body))
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
			time.Sleep(time.Second)
		}
		if err == nil {
			last = body
		} else {
			r.log().Error(err, "cannot write the pod's status")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type transition struct {
	ok bool
	at metav1.Time
}

func (r *podRun) status() map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	cond := func(t corev1.PodConditionType, ok bool, reason string) map[string]any {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		if r.since == nil {
			r.since = map[corev1.PodConditionType]transition{}
		}
		if prev, seen := r.since[t]; !seen || prev.ok != ok {
			r.since[t] = transition{ok, metav1.Now()}
		}
		m := map[string]any{"type": t, "status": s, "lastTransitionTime": r.since[t].at}
		if reason != "" && !ok {
			m["reason"] = reason
		}
		return m
	}
	allReady, anyRunning, allDone, anyFailed := len(r.containers) > 0, false, len(r.containers) > 0, false
	var statuses []map[string]any
	for _, c := range r.containers {
		cs := map[string]any{"name": c.spec.Name, "image": c.spec.Image, "imageID": "", "ready": c.ready,
			"restartCount": c.restarts, "started": c.running}
		switch {
		case c.running:
			cs["state"] = map[string]any{"running": map[string]any{"startedAt": metav1.NewTime(c.started)}}
			if c.cmd != nil {
				cs["containerID"] = fmt.Sprintf("fakenode://%d", c.cmd.Process.Pid)
			}
			anyRunning = true
		case c.exit != nil:
			cs["state"] = map[string]any{"terminated": c.exit}
			anyFailed = anyFailed || c.exit.ExitCode != 0
		case c.waitingOn != "":
			cs["state"] = map[string]any{"waiting": map[string]any{"reason": c.waitingOn}}
		default:
			cs["state"] = map[string]any{"waiting": map[string]any{"reason": "ContainerCreating"}}
		}
		if c.lastExit != nil && (c.running || c.waitingOn != "") {
			cs["lastState"] = map[string]any{"terminated": c.lastExit}
		}
		allReady = allReady && c.ready
		allDone = allDone && c.exit != nil
		statuses = append(statuses, cs)
	}
	st := map[string]any{"hostIP": r.k.Net.NodeIP.String(), "hostIPs": []map[string]string{{"ip": r.k.Net.NodeIP.String()}},
		"startTime": metav1.NewTime(r.pod.CreationTimestamp.Time)}
	phase := corev1.PodPending
	switch {
	case allDone && anyFailed:
		phase = corev1.PodFailed
	case allDone:
		phase = corev1.PodSucceeded
	case anyRunning || len(statuses) > 0 && r.waiting == "":
		phase = corev1.PodRunning
	}
	if r.waiting != "" {
		phase = corev1.PodPending
		st["message"] = r.waiting
		for _, c := range r.pod.Spec.Containers {
			reason, _, _ := strings.Cut(r.waiting, ": ")
			statuses = append(statuses, map[string]any{"name": c.Name, "image": c.Image, "imageID": "", "ready": false, "restartCount": 0,
				"state": map[string]any{"waiting": map[string]any{"reason": reason, "message": r.waiting}}})
		}
	}
	st["phase"] = phase
	if r.sandbox != nil {
		st["podIP"] = r.sandbox.IP.String()
		st["podIPs"] = []map[string]string{{"ip": r.sandbox.IP.String()}}
	}
	st["conditions"] = []map[string]any{
		cond(corev1.PodScheduled, true, ""),
		cond(corev1.PodInitialized, true, ""),
		cond(corev1.ContainersReady, allReady, "ContainersNotReady"),
		cond(corev1.PodReady, allReady, "ContainersNotReady"),
	}
	if statuses == nil {
		statuses = []map[string]any{}
	}
	st["containerStatuses"] = statuses
	return st
}
