package controllers

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// HallAddress is the base URL clients are sent to (login answers, hall
// redirects) and the AddressResolved condition that explains it: the Hall's
// spec.service.externalURL; else the LoadBalancer Service's ingress; else,
// for a ClusterIP Service, its cluster DNS name. A NodePort Service has no
// single address and a load balancer may have none yet: then "" (the hall
// pods name no address and clients stay on the one they used). Never a pod
// IP: clients outside the cluster cannot reach one, and a pod's IP dies with
// the pod.
func HallAddress(hall *gamehallv1.Hall, svc *corev1.Service) (string, metav1.Condition) {
	c := metav1.Condition{Type: gamehallv1.ConditionAddressResolved, ObservedGeneration: hall.Generation, Status: metav1.ConditionTrue}
	if u := strings.TrimSuffix(hall.Spec.Service.ExternalURL, "/"); u != "" {
		c.Reason, c.Message = gamehallv1.ReasonExternalURL, fmt.Sprintf("clients are sent to %s (spec.service.externalURL)", u)
		return u, c
	}
	port := hall.Spec.Service.Port
	if len(svc.Spec.Ports) > 0 {
		port = svc.Spec.Ports[0].Port
	}
	hostPort := func(host string) string { return "http://" + net.JoinHostPort(host, strconv.Itoa(int(port))) }
	switch svc.Spec.Type {
	case corev1.ServiceTypeLoadBalancer:
		for _, in := range svc.Status.LoadBalancer.Ingress {
			host := in.Hostname
			if host == "" {
				host = in.IP
			}
			if host != "" {
				u := hostPort(host)
				c.Reason, c.Message = gamehallv1.ReasonLoadBalancerIngress, fmt.Sprintf("clients are sent to %s, the load balancer of Service %s", u, svc.Name)
				return u, c
			}
		}
		c.Status, c.Reason = metav1.ConditionFalse, gamehallv1.ReasonLoadBalancerPending
		c.Message = fmt.Sprintf("waiting for the load balancer of Service %s to get an address (status.loadBalancer.ingress); "+
			"meanwhile the halls name no address and clients stay on the one they used. Set spec.service.externalURL to name one yourself", svc.Name)
		return "", c
	case corev1.ServiceTypeNodePort:
		c.Status, c.Reason = metav1.ConditionFalse, gamehallv1.ReasonNeedsExternalURL
		c.Message = fmt.Sprintf("a NodePort Service has no single address: set spec.service.externalURL to the one clients use "+
			"(a node's address and the node port of Service %s, or a name in front of them); until then the halls name no address", svc.Name)
		return "", c
	}
	u := hostPort(svc.Name + "." + svc.Namespace + ".svc")
	c.Reason = gamehallv1.ReasonClusterDNS
	c.Message = fmt.Sprintf("clients inside the cluster are sent to %s; for clients outside, use service type LoadBalancer or set spec.service.externalURL", u)
	return u, c
}
