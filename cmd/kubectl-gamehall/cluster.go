package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/controllers"
	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/ticket"
)

// cluster is what the commands talk to.
type cluster struct {
	client    client.Client        // the gamehall kinds and Secrets
	kube      kubernetes.Interface // the service proxy
	namespace string
}

func connect(o options) (*cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.context}
	if o.namespace != "" {
		overrides.Context.Namespace = o.namespace
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, kubeconfigError(err)
	}
	cfg.Timeout = o.timeout
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, kubeconfigError(err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, gamehallv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.Host, err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &cluster{client: c, kube: kube, namespace: ns}, nil
}

// apiError adds what to do to the API server's common refusals.
func apiError(err error, what string) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: %w (ask your cluster admin for that permission)", what, err)
	case apierrors.IsNotFound(err) && strings.Contains(err.Error(), "the server could not find the requested resource"):
		return fmt.Errorf("%s: the cluster does not serve the gamehall kinds; install them with `make install` or `make deploy`: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// hallOf is the Hall that lists region: --hall, or the Region's status.hall.
func (c *cluster) hallOf(ctx context.Context, regionName, hallName string) (*gamehallv1.Hall, error) {
	ns := c.namespace
	if hallName == "" {
		var region gamehallv1.Region
		if err := c.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: regionName}, &region); err != nil {
			if apierrors.IsNotFound(err) && !strings.Contains(err.Error(), "could not find the requested resource") {
				return nil, fmt.Errorf("no Region %q in namespace %q: `kubectl get regions -A` lists them; pick the namespace with -n", regionName, ns)
			}
			return nil, apiError(err, fmt.Sprintf("reading Region %s/%s", ns, regionName))
		}
		hallName = region.Status.Hall
		if hallName == "" {
			return nil, fmt.Errorf("no Hall lists Region %s/%s (its status.hall is empty): `kubectl describe region %s -n %s` says why (condition HallSelected); or name one with --hall", ns, regionName, regionName, ns)
		}
	}
	var hall gamehallv1.Hall
	if err := c.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: hallName}, &hall); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("no Hall %q in namespace %q: `kubectl get halls -n %s` lists them", hallName, ns, ns)
		}
		return nil, apiError(err, fmt.Sprintf("reading Hall %s/%s", ns, hallName))
	}
	return &hall, nil
}

// serviceTicket signs a short service ticket with the Hall's keys, read
// from its Secret: the hall answers nothing without a ticket, and the API
// server's proxy does not pass the user's identity on.
func (c *cluster) serviceTicket(ctx context.Context, hall *gamehallv1.Hall) (string, error) {
	name := hall.Spec.Login.SigningKeySecretName
	var secret corev1.Secret
	if err := c.client.Get(ctx, types.NamespacedName{Namespace: hall.Namespace, Name: name}, &secret); err != nil {
		what := fmt.Sprintf("reading Secret %s/%s, the Hall's signing keys (the plugin signs a one-minute ticket for the hall with them)", hall.Namespace, name)
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("%s: it does not exist; the Hall's pods cannot log anyone in either (see the README's Kubernetes steps)", what)
		}
		return "", apiError(err, what)
	}
	priv, active, err := ticket.ParseSigningFiles(secret.Data, "Secret "+hall.Namespace+"/"+name)
	if err == nil {
		var ring *ticket.Keyring
		if ring, err = ticket.NewKeyring(priv, active); err == nil {
			// hall.ops: the operator's view of the hall, rooms included.
			return ring.Sign(ticket.Service("kubectl-gamehall", ticket.AudHallOps), time.Minute)
		}
	}
	return "", fmt.Errorf("Secret %s/%s holds no usable signing key: %w", hall.Namespace, name, err)
}

// hallGet GETs path from one of the Hall's replicas through the API
// server's service proxy, with the ticket tok in login.TicketHeader: the
// proxy keeps Authorization for itself, and a ticket in the URL would be
// in the API server's logs.
func (c *cluster) hallGet(ctx context.Context, hall *gamehallv1.Hall, path, tok string) ([]byte, error) {
	svc := controllers.HallChildName(hall.Name)
	body, err := c.kube.CoreV1().RESTClient().Get().Namespace(hall.Namespace).Resource("services").
		Name("http:"+svc+":"+controllers.HallClientPortName).SubResource("proxy").Suffix(path).
		SetHeader(login.TicketHeader, tok).DoRaw(ctx)
	if err == nil {
		return body, nil
	}
	via := fmt.Sprintf("asking Hall %s/%s's Service %s for %s", hall.Namespace, hall.Name, svc, path)
	// The API server's own refusals come as a Status; anything else is
	// the hall's answer.
	var st metav1.Status
	if json.Unmarshal(body, &st) != nil || st.Kind != "Status" {
		if len(body) > 0 {
			return nil, fmt.Errorf("%s: the hall answered: %s", via, strings.TrimSpace(string(body)))
		}
		return nil, apiError(err, via)
	}
	if strings.Contains(st.Message, "no endpoints available") {
		var s corev1.Service
		if gerr := c.client.Get(ctx, types.NamespacedName{Namespace: hall.Namespace, Name: svc}, &s); apierrors.IsNotFound(gerr) {
			return nil, fmt.Errorf("%s: the Service does not exist; is the operator running? (`kubectl describe hall %s -n %s`)", via, hall.Name, hall.Namespace)
		}
		return nil, fmt.Errorf("%s: the Service has no ready hall pod; `kubectl get pods -n %s -l %s=%s` and `kubectl describe hall %s -n %s` say why",
			via, hall.Namespace, gamehallv1.LabelHall, hall.Name, hall.Name, hall.Namespace)
	}
	return nil, apiError(&apierrors.StatusError{ErrStatus: st}, via)
}
