package fakenode

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Namespaces plays two controllers of kube-controller-manager: every
// namespace gets the ServiceAccount "default" (pods without one use it; the
// ServiceAccount admission plugin refuses pods whose account is missing)
// and the ConfigMap kube-root-ca.crt (the CA pods verify the API server
// with, mounted by their kube-api-access volume).
type Namespaces struct {
	Client client.Client
	CA     []byte
}

// Reconcile creates what a namespace lacks.
func (n *Namespaces) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var ns corev1.Namespace
	if err := n.Client.Get(ctx, req.NamespacedName, &ns); err != nil || !ns.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns.Name}}
	if err := n.Client.Create(ctx, sa); client.IgnoreAlreadyExists(err) != nil {
		return ctrl.Result{}, err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: ns.Name},
		Data: map[string]string{"ca.crt": string(n.CA)}}
	return ctrl.Result{}, client.IgnoreAlreadyExists(n.Client.Create(ctx, cm))
}

// SetupWithManager reconciles every namespace.
func (n *Namespaces) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&corev1.Namespace{}).Named("fakenode-namespaces").Complete(n)
}
