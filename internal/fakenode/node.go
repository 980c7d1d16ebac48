// Package fakenode is the node stand-in of the end-to-end tests: there is
// no kubelet, container runtime, kube-proxy, CoreDNS, kube-controller-manager
// or Agones controller on the machines this project builds on, so this
// package plays each of them for one node, against a real kube-apiserver:
//
//   - Kubelet: binds pods to the node and runs each as processes in its own
//     network namespace (Network), with the spec's command, args, env,
//     mounted volumes and probes; writes pod status.
//   - Deployments: the Deployment controller (pods directly, no ReplicaSets).
//   - Services and DNS: EndpointSlices, a userspace Service proxy on the
//     ClusterIPs, and *.svc.cluster.local names.
//   - Namespaces: each namespace's default ServiceAccount and CA ConfigMap.
//   - Agones: GameServers as pods with the SDK sidecar.
//
// It is a test fixture, not a way to run the platform.
package fakenode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Config says what the node runs against.
type Config struct {
	REST      *rest.Config
	Scheme    *runtime.Scheme // built-in kinds and the Agones mirror
	Net       *Network
	Name      string // the Node's name
	Images    Images
	Dir       string // pods' files and logs
	APIServer string // host:port of the API server
	CA        []byte // the cluster CA (PEM), for kube-root-ca.crt
	Log       logr.Logger
}

// Node is a running node stand-in.
type Node struct {
	Kubelet  *Kubelet
	Services *Services
	cancel   context.CancelFunc
	done     chan error
}

// Start registers the Node, the cluster DNS Service and starts every part.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	c, err := client.New(cfg.REST, client.Options{Scheme: cfg.Scheme})
	if err != nil {
		return nil, err
	}
	if err := register(ctx, c, cfg); err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg.REST, ctrl.Options{Scheme: cfg.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Logger: cfg.Log})
	if err != nil {
		return nil, err
	}
	mc, reader := mgr.GetClient(), mgr.GetAPIReader()
	ag := &Agones{Client: mc, Log: cfg.Log.WithName("agones"), Net: cfg.Net}
	k := &Kubelet{Client: mc, Reader: reader, Log: cfg.Log.WithName("kubelet"), Net: cfg.Net, Node: cfg.Name, Images: cfg.Images,
		Dir: cfg.Dir, APIServer: cfg.APIServer, Sidecars: map[string]func(*corev1.Pod) http.Handler{SidecarImage: ag.SidecarFor}}
	svcs := &Services{Client: mc, Log: cfg.Log.WithName("services"), Net: cfg.Net, APIServer: cfg.APIServer}
	if err := ctrl.NewControllerManagedBy(mgr).For(&corev1.Pod{}).Named("fakenode-kubelet").
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).Complete(k); err != nil {
		return nil, err
	}
	for _, s := range []interface{ SetupWithManager(ctrl.Manager) error }{
		svcs, &Deployments{Client: mc, Log: cfg.Log.WithName("deployments")}, &Namespaces{Client: mc, CA: cfg.CA}, ag,
	} {
		if err := s.SetupWithManager(mgr); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	dns := &DNS{Client: mc, Log: cfg.Log.WithName("dns")}
	if err := dns.Serve(ctx, net.JoinHostPort(cfg.Net.ServiceIP(10).String(), "53")); err != nil {
		cancel()
		return nil, fmt.Errorf("cluster DNS: %w", err)
	}
	n := &Node{Kubelet: k, Services: svcs, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := mgr.Start(ctx)
		k.StopAll()
		svcs.Close()
		n.done <- err
	}()
	return n, nil
}

// Stop ends every pod and the node's controllers.
func (n *Node) Stop() error {
	n.cancel()
	err := <-n.done
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// register creates the Node object and the cluster DNS Service (its
// ClusterIP fixed, as a cluster's kube-dns is).
func register(ctx context.Context, c client.Client, cfg Config) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: cfg.Name, Labels: map[string]string{"kubernetes.io/hostname": cfg.Name}}}
	if err := c.Create(ctx, node); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("register the node: %w", err)
	}
	node.Status = corev1.NodeStatus{
		Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: cfg.Net.NodeIP.String()}, {Type: corev1.NodeHostName, Address: cfg.Name}},
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "fakenode runs pods as processes", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "fakenode", OperatingSystem: "linux", Architecture: "amd64"},
	}
	if err := c.Status().Update(ctx, node); err != nil {
		return fmt.Errorf("node status: %w", err)
	}
	dns := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-dns"}},
		Spec: corev1.ServiceSpec{ClusterIP: cfg.Net.ServiceIP(10).String(), Ports: []corev1.ServicePort{
			{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP}}},
	}
	if err := c.Create(ctx, dns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("the kube-dns Service: %w", err)
	}
	return nil
}
