package fakenode

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Kubelet plays the one node's kubelet (and the scheduler: every pod is
// bound to this node). Each pod runs as processes in its own network
// namespace, with its containers' command, args, env and volume mounts as
// the spec says, so a wrong flag or mount fails here as it would in a
// cluster. What it does not do: images (see Images), resource limits, user
// and security contexts (processes run as root), init containers, exec
// probes, `kubectl logs/exec` (logs are files under Dir/logs).
type Kubelet struct {
	Client client.Client // cached reads, writes
	Reader client.Reader // uncached reads (Secrets, ConfigMaps)
	Log    logr.Logger
	Net    *Network
	Node   string
	Images Images
	Dir    string // pods' volumes and logs
	// APIServer is host:port of the API server, the endpoint of the
	// `kubernetes` Service.
	APIServer string
	// Sidecars serve in-process containers by image (the Agones SDK
	// sidecar of a GameServer's pod, see agones.go).
	Sidecars map[string]func(pod *corev1.Pod) http.Handler

	mu     sync.Mutex
	runs   map[types.UID]*podRun
	tokens map[string]token
}

type token struct {
	value   []byte
	fetched time.Time
}

// Reconcile binds, starts, and stops pods.
func (k *Kubelet) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var pod corev1.Pod
	err := k.Client.Get(ctx, req.NamespacedName, &pod)
	if client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	if apierrors.IsNotFound(err) {
		k.forgetGone(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	if pod.Spec.NodeName == "" && pod.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, k.bind(ctx, &pod)
	}
	if pod.Spec.NodeName != k.Node {
		return ctrl.Result{}, nil
	}
	k.mu.Lock()
	run := k.runs[pod.UID]
	k.mu.Unlock()
	if !pod.DeletionTimestamp.IsZero() {
		if run == nil {
			return ctrl.Result{}, k.finishDelete(ctx, &pod)
		}
		run.terminate(gracePeriod(&pod), "pod deleted")
		return ctrl.Result{}, nil
	}
	if run != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return ctrl.Result{}, nil
	}
	if pod.Status.StartTime != nil {
		// Started by an earlier stand-in: its processes are gone.
		return ctrl.Result{}, k.patchStatus(ctx, &pod, map[string]any{"phase": corev1.PodFailed, "reason": "NodeRestarted",
			"message": "the node stand-in restarted; its processes are gone"})
	}
	run = newPodRun(k, &pod)
	k.mu.Lock()
	if k.runs == nil {
		k.runs = map[types.UID]*podRun{}
	}
	k.runs[pod.UID] = run
	k.mu.Unlock()
	go run.main()
	return ctrl.Result{}, nil
}

func (k *Kubelet) bind(ctx context.Context, pod *corev1.Pod) error {
	b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		Target: corev1.ObjectReference{Kind: "Node", Name: k.Node}}
	if err := k.Client.SubResource("binding").Create(ctx, pod, b); err != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("bind pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// forgetGone stops the run of a pod deleted without grace (force).
func (k *Kubelet) forgetGone(key types.NamespacedName) {
	k.mu.Lock()
	var runs []*podRun
	for _, r := range k.runs {
		if r.key == key {
			runs = append(runs, r)
		}
	}
	k.mu.Unlock()
	for _, r := range runs {
		r.terminate(0, "pod object gone")
	}
}

// finishDelete removes a terminated pod's object (grace 0), as the kubelet
// does once its containers are gone.
func (k *Kubelet) finishDelete(ctx context.Context, pod *corev1.Pod) error {
	zero := int64(0)
	err := k.Client.Delete(ctx, pod, &client.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

func gracePeriod(pod *corev1.Pod) time.Duration {
	if pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

func (k *Kubelet) patchStatus(ctx context.Context, pod *corev1.Pod, status map[string]any) error {
	body, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	err = k.Client.Status().Patch(ctx, pod, client.RawPatch(types.MergePatchType, body))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// event records a core/v1 Event on a pod, as the kubelet does.
func (k *Kubelet) event(pod *corev1.Pod, warning bool, reason, format string, args ...any) {
	typ := corev1.EventTypeNormal
	if warning {
		typ = corev1.EventTypeWarning
	}
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Reason:         reason, Message: fmt.Sprintf(format, args...), Type: typ,
		Source:         corev1.EventSource{Component: "kubelet", Host: k.Node},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.Client.Create(ctx, ev); err != nil {
		k.Log.V(1).Info("cannot record an event", "pod", pod.Name, "reason", reason, "err", err)
	}
}

// token returns the pod's cached ServiceAccount token while it is fresh.
func (k *Kubelet) cachedToken(key string, ttl time.Duration) ([]byte, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	t, ok := k.tokens[key]
	return t.value, ok && time.Since(t.fetched) < ttl*8/10
}

func (k *Kubelet) cacheToken(key string, v []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.tokens == nil {
		k.tokens = map[string]token{}
	}
	k.tokens[key] = token{v, time.Now()}
}

// kubernetesService returns the ClusterIP of default/kubernetes.
func (k *Kubelet) kubernetesService(ctx context.Context) (string, error) {
	var svc corev1.Service
	if err := k.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "kubernetes"}, &svc); err != nil {
		return "", fmt.Errorf("the kubernetes Service: %w", err)
	}
	return svc.Spec.ClusterIP, nil
}

// ResolvConf is what each pod sees as /etc/resolv.conf (ClusterFirst).
func ResolvConf(ns string, dns net.IP) string {
	return fmt.Sprintf("nameserver %s\nsearch %s.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n", dns, ns)
}

// StopAll ends every pod's processes (the node shuts down).
func (k *Kubelet) StopAll() {
	k.mu.Lock()
	runs := make([]*podRun, 0, len(k.runs))
	for _, r := range k.runs {
		runs = append(runs, r)
	}
	k.mu.Unlock()
	for _, r := range runs {
		r.terminate(5*time.Second, "node stopping")
	}
	for _, r := range runs {
		<-r.done
	}
}

func podDir(root string, pod *corev1.Pod) string {
	return filepath.Join(root, "pods", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID)[:8])
}

// LogPath is where a container's output goes (all its restarts, appended).
func (k *Kubelet) LogPath(ns, pod, container string) string {
	return filepath.Join(k.Dir, "logs", ns+"_"+pod+"_"+container+".log")
}

func ensureDir(p string) error { return os.MkdirAll(p, 0o755) }
