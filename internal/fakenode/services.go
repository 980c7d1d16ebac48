package fakenode

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Services plays the EndpointSlice controller and kube-proxy (in its old
// userspace mode): each Service's ready pods become its EndpointSlice, and
// the node listens on every ClusterIP:port (and NodeIP:nodePort) and
// forwards each connection to one ready endpoint, round robin. The
// `kubernetes` Service forwards to the API server.
type Services struct {
	Client    client.Client
	Log       logr.Logger
	Net       *Network
	APIServer string

	mu      sync.Mutex
	proxies map[string]*proxy                            // "ip:port" → listener
	backs   map[types.NamespacedName]map[string][]string // service → port name → endpoints
}

type proxy struct {
	ln   net.Listener
	svc  types.NamespacedName
	port string // service port name
	next atomic.Uint64
}

const managedBy = "fakenode.gamehall.dev"

// Reconcile recomputes one Service's endpoints, slice and listeners.
func (s *Services) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var svc corev1.Service
	err := s.Client.Get(ctx, req.NamespacedName, &svc)
	if client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	if apierrors.IsNotFound(err) || !svc.DeletionTimestamp.IsZero() {
		s.setBackends(req.NamespacedName, nil, nil)
		return ctrl.Result{}, nil
	}
	if req.Namespace == "kube-system" && req.Name == "kube-dns" {
		return ctrl.Result{}, nil // the node's own DNS serves it
	}
	backs := map[string][]string{}
	if req.Namespace == "default" && req.Name == "kubernetes" {
		for _, p := range svc.Spec.Ports {
			backs[p.Name] = []string{s.APIServer}
		}
		s.setBackends(req.NamespacedName, &svc, backs)
		return ctrl.Result{}, nil
	}
	if len(svc.Spec.Selector) == 0 {
		s.setBackends(req.NamespacedName, &svc, backs)
		return ctrl.Result{}, nil
	}
	var pods corev1.PodList
	if err := s.Client.List(ctx, &pods, client.InNamespace(svc.Namespace), client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(svc.Spec.Selector)}); err != nil {
		return ctrl.Result{}, err
	}
	var eps []discoveryv1.Endpoint
	var ports []discoveryv1.EndpointPort
	for _, sp := range svc.Spec.Ports {
		name, proto := sp.Name, sp.Protocol
		var portNum *int32
		for i := range pods.Items {
			pod := &pods.Items[i]
			if pod.Status.PodIP == "" || !pod.DeletionTimestamp.IsZero() {
				continue
			}
			tp, ok := targetPort(pod, sp)
			if !ok {
				continue
			}
			n := int32(tp)
			portNum = &n
			if podReady(pod) {
				backs[sp.Name] = append(backs[sp.Name], net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(tp)))
			}
		}
		ports = append(ports, discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: portNum})
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Status.PodIP == "" {
			continue
		}
		ready, serving, terminating := podReady(pod), podReady(pod), !pod.DeletionTimestamp.IsZero()
		ready = ready && !terminating
		node := pod.Spec.NodeName
		eps = append(eps, discoveryv1.Endpoint{Addresses: []string{pod.Status.PodIP}, NodeName: &node,
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}})
	}
	s.setBackends(req.NamespacedName, &svc, backs)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name + "-fakenode", Namespace: svc.Namespace,
			Labels:          map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: managedBy},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(&svc, corev1.SchemeGroupVersion.WithKind("Service"))}},
		AddressType: discoveryv1.AddressTypeIPv4, Endpoints: eps, Ports: ports,
	}
	var got discoveryv1.EndpointSlice
	err = s.Client.Get(ctx, client.ObjectKeyFromObject(slice), &got)
	switch {
	case apierrors.IsNotFound(err):
		return ctrl.Result{}, client.IgnoreAlreadyExists(s.Client.Create(ctx, slice))
	case err != nil:
		return ctrl.Result{}, err
	}
	slice.ResourceVersion = got.ResourceVersion
	return ctrl.Result{}, s.Client.Update(ctx, slice)
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func targetPort(pod *corev1.Pod, sp corev1.ServicePort) (int, bool) {
	if sp.TargetPort.IntValue() == 0 && sp.TargetPort.StrVal == "" {
		return int(sp.Port), true
	}
	for i := range pod.Spec.Containers {
		if p, ok := portOf(sp.TargetPort, &pod.Spec.Containers[i]); ok {
			return p, true
		}
	}
	return 0, false
}

// setBackends records a Service's endpoints and opens (or closes) its
// listeners.
func (s *Services) setBackends(key types.NamespacedName, svc *corev1.Service, backs map[string][]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.backs == nil {
		s.backs, s.proxies = map[types.NamespacedName]map[string][]string{}, map[string]*proxy{}
	}
	want := map[string]string{} // addr → port name
	if svc != nil {
		s.backs[key] = backs
		for _, p := range svc.Spec.Ports {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				continue
			}
			if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
				want[net.JoinHostPort(ip, strconv.Itoa(int(p.Port)))] = p.Name
			}
			if p.NodePort != 0 {
				want[net.JoinHostPort(s.Net.NodeIP.String(), strconv.Itoa(int(p.NodePort)))] = p.Name
			}
		}
	} else {
		delete(s.backs, key)
	}
	for addr, px := range s.proxies {
		if px.svc == key {
			if _, keep := want[addr]; !keep {
				px.ln.Close()
				delete(s.proxies, addr)
			}
		}
	}
	for addr, port := range want {
		if _, ok := s.proxies[addr]; ok {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			s.Log.Error(err, "cannot proxy a Service", "service", key, "address", addr)
			continue
		}
		px := &proxy{ln: ln, svc: key, port: port}
		s.proxies[addr] = px
		go forward(ln, func() string { return s.pick(px) })
	}
}

func (s *Services) pick(px *proxy) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	eps := s.backs[px.svc][px.port]
	if len(eps) == 0 {
		return ""
	}
	return eps[px.next.Add(1)%uint64(len(eps))]
}

// Close stops every listener.
func (s *Services) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, px := range s.proxies {
		px.ln.Close()
	}
}

// SetupWithManager reconciles Services on their own changes and on any
// change of a pod in their namespace.
func (s *Services) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&corev1.Service{}).Named("fakenode-services").
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			var list corev1.ServiceList
			if err := s.Client.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
				return nil
			}
			var reqs []reconcile.Request
			for _, svc := range list.Items {
				if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(o.GetLabels())) {
					reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&svc)})
				}
			}
			return reqs
		})).Complete(s)
}
