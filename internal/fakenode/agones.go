package fakenode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
)

// SidecarImage is the image of the Agones SDK sidecar container the
// Agones stand-in adds to each GameServer's pod; the kubelet serves it
// in-process (the SDK's REST API on localhost:9358 inside the pod).
const SidecarImage = "fakenode.gamehall.dev/agones-sdk-server"

// SDKPort is the Agones SDK sidecar's HTTP port (Agones' default).
const SDKPort = 9358

// LabelGameServer names a pod's GameServer, as Agones does.
const LabelGameServer = "agones.dev/gameserver"

// Agones plays the Agones controller for GameServers (the real CRD is
// installed; its controller cannot run here): one pod per GameServer, with
// the SDK sidecar and a host port per Dynamic port; the state machine
// Creating → Starting → Scheduled → (SDK Ready →) RequestReady → Ready;
// Unhealthy when the game server's container fails or its pod goes;
// Shutdown GameServers are deleted, and with them their pods. Not
// emulated: health-ping deadlines, Fleets, allocation, player tracking,
// lists.
type Agones struct {
	Client client.Client
	Log    logr.Logger
	Net    *Network

	mu    sync.Mutex
	ports map[int32]types.NamespacedName
}

// Reconcile moves one GameServer along.
func (a *Agones) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var gs agonesv1.GameServer
	err := a.Client.Get(ctx, req.NamespacedName, &gs)
	if client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	var pod corev1.Pod
	perr := a.Client.Get(ctx, req.NamespacedName, &pod)
	if client.IgnoreNotFound(perr) != nil {
		return ctrl.Result{}, perr
	}
	havePod := perr == nil && (err != nil || metav1.IsControlledBy(&pod, &gs))
	if apierrors.IsNotFound(err) || !gs.DeletionTimestamp.IsZero() || gs.Status.State == agonesv1.GameServerStateShutdown {
		if havePod && pod.DeletionTimestamp.IsZero() {
			if err := a.Client.Delete(ctx, &pod); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, err
			}
		}
		if err == nil && gs.DeletionTimestamp.IsZero() {
			a.Log.Info("GameServer Shutdown: deleting it", "gameServer", req.NamespacedName)
			return ctrl.Result{}, client.IgnoreNotFound(a.Client.Delete(ctx, &gs))
		}
		if !havePod {
			a.freePorts(req.NamespacedName)
		}
		return ctrl.Result{}, nil
	}
	switch gs.Status.State {
	case "", agonesv1.GameServerStateCreating, agonesv1.GameServerStatePortAllocation:
		if havePod {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, a.createPod(ctx, &gs)
	case agonesv1.GameServerStateUnhealthy, agonesv1.GameServerStateError:
		return ctrl.Result{}, nil
	}
	if !havePod || !pod.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, a.setStatus(ctx, &gs, map[string]any{"state": agonesv1.GameServerStateUnhealthy}, "its pod is gone")
	}
	if st, code, done := gameServerExit(&pod, gs.Spec.Container); done {
		if code == 0 {
			return ctrl.Result{}, a.setStatus(ctx, &gs, map[string]any{"state": agonesv1.GameServerStateShutdown}, "the game server exited cleanly")
		}
		return ctrl.Result{}, a.setStatus(ctx, &gs, map[string]any{"state": agonesv1.GameServerStateUnhealthy}, "the game server exited: "+st)
	}
	if pod.Status.PodIP == "" {
		return ctrl.Result{}, nil
	}
	addr := map[string]any{
		"address": a.Net.NodeIP.String(), "nodeName": pod.Spec.NodeName,
		"addresses": []map[string]any{{"type": "InternalIP", "address": a.Net.NodeIP.String()}, {"type": "PodIP", "address": pod.Status.PodIP}},
	}
	switch gs.Status.State {
	case agonesv1.GameServerStateStarting:
		addr["state"] = agonesv1.GameServerStateScheduled
		return ctrl.Result{}, a.setStatus(ctx, &gs, addr, "")
	case agonesv1.GameServerStateRequestReady:
		addr["state"] = agonesv1.GameServerStateReady
		return ctrl.Result{}, a.setStatus(ctx, &gs, addr, "")
	}
	return ctrl.Result{}, nil
}

// gameServerExit reports whether the game-server container has ended.
func gameServerExit(pod *corev1.Pod, name string) (string, int32, bool) {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == name && cs.State.Terminated != nil {
			t := cs.State.Terminated
			return fmt.Sprintf("exit code %d (%s)", t.ExitCode, t.Reason), t.ExitCode, true
		}
	}
	return "", 0, false
}

// setStatus patches the GameServer's status with its resourceVersion, so an
// SDK call in between (Ready, counters) is not overwritten: on a conflict
// the reconcile runs again with what is new.
func (a *Agones) setStatus(ctx context.Context, gs *agonesv1.GameServer, status map[string]any, why string) error {
	if why != "" {
		a.Log.Info("GameServer state", "gameServer", client.ObjectKeyFromObject(gs), "state", status["state"], "why", why)
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": gs.ResourceVersion}, "status": status})
	if err != nil {
		return err
	}
	err = a.Client.Patch(ctx, gs, client.RawPatch(types.MergePatchType, body))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// createPod makes the GameServer's pod: its template, a host port for each
// Dynamic port, the SDK sidecar, and the SDK's port in the environment.
func (a *Agones) createPod(ctx context.Context, gs *agonesv1.GameServer) error {
	key := client.ObjectKeyFromObject(gs)
	spec := gs.Spec.Template.Spec.DeepCopy()
	var statusPorts []map[string]any
	for _, gp := range gs.Spec.Ports {
		target := gs.Spec.Container
		if gp.Container != nil {
			target = *gp.Container
		}
		hostPort := gp.HostPort
		if gp.PortPolicy != agonesv1.Static || hostPort == 0 {
			p, err := a.allocatePort(key)
			if err != nil {
				return err
			}
			hostPort = p
		}
		found := false
		for i := range spec.Containers {
			if spec.Containers[i].Name == target {
				found = true
				spec.Containers[i].Ports = append(spec.Containers[i].Ports, corev1.ContainerPort{
					Name: "gs-" + gp.Name, ContainerPort: gp.ContainerPort, HostPort: hostPort, Protocol: gp.Protocol})
			}
		}
		if !found {
			return a.setStatus(ctx, gs, map[string]any{"state": agonesv1.GameServerStateError}, fmt.Sprintf("port %q names container %q, which the template does not have", gp.Name, target))
		}
		statusPorts = append(statusPorts, map[string]any{"name": gp.Name, "port": hostPort})
	}
	sdkEnv := []corev1.EnvVar{{Name: "AGONES_SDK_HTTP_PORT", Value: strconv.Itoa(SDKPort)}}
	for i := range spec.Containers {
		spec.Containers[i].Env = append(spec.Containers[i].Env, sdkEnv...)
	}
	spec.Containers = append(spec.Containers, corev1.Container{Name: "agones-gameserver-sidecar", Image: SidecarImage, Env: sdkEnv})
	spec.RestartPolicy = corev1.RestartPolicyNever
	labels := map[string]string{LabelGameServer: gs.Name}
	for k, v := range gs.Spec.Template.Labels {
		labels[k] = v
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: gs.Name, Namespace: gs.Namespace, Labels: labels, Annotations: gs.Spec.Template.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(gs, agonesv1.GroupVersion.WithKind("GameServer"))}},
		Spec: *spec,
	}
	if err := a.Client.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			return a.setStatus(ctx, gs, map[string]any{"state": agonesv1.GameServerStateError}, "its pod is refused: "+err.Error())
		}
		return err
	}
	counters := map[string]any{}
	for name, cs := range gs.Spec.Counters {
		counters[name] = map[string]any{"count": cs.Count, "capacity": cs.Capacity}
	}
	return a.setStatus(ctx, gs, map[string]any{"state": agonesv1.GameServerStateStarting, "ports": statusPorts, "counters": counters}, "pod created")
}

// allocatePort picks a free host port in Agones' default range
// (7000–8000) on this node.
func (a *Agones) allocatePort(key types.NamespacedName) (int32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ports == nil {
		a.ports = map[int32]types.NamespacedName{}
	}
	for p := int32(7000); p <= 8000; p++ {
		if _, used := a.ports[p]; !used {
			a.ports[p] = key
			return p, nil
		}
	}
	return 0, errors.New("no free host port in 7000-8000")
}

func (a *Agones) freePorts(key types.NamespacedName) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for p, k := range a.ports {
		if k == key {
			delete(a.ports, p)
		}
	}
}

// SidecarFor serves the SDK for a GameServer's pod.
func (a *Agones) SidecarFor(pod *corev1.Pod) http.Handler {
	return &Sidecar{Client: a.Client, Key: client.ObjectKeyFromObject(pod), Log: a.Log.WithName("sdk").WithValues("gameServer", pod.Name)}
}

// SetupWithManager reconciles GameServers and their pods.
func (a *Agones) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&agonesv1.GameServer{}).Owns(&corev1.Pod{}).Named("fakenode-agones").Complete(a)
}

// patchGameServer merge-patches the GameServer object (Agones' CRD has no
// status subresource: status is written on the object itself).
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
