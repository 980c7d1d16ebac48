package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// Hall server ports and mounts (the `gamehall hall` flags below use them).
// The client port serves login, the hall and health; the internal port
// /metrics and /debug/pprof, for Prometheus and operators, and is not in the
// Hall's Service.
const (
	HallClientPortName   = "client"
	HallClientPort       = 8080
	HallInternalPortName = "internal"
	HallInternalPort     = 8081
	HallSigningKeysDir   = "/etc/gamehall/signing-keys"
	// VerificationKeysDir is where halls and shards find the public keys.
	VerificationKeysDir = "/etc/gamehall/verification-keys"
	HallAccountsDir     = "/etc/gamehall/accounts"
)

// annotationSpecHash on a child records the hash of the spec the operator
// wrote, so a Hall reconcile (triggered often, by every Region status change)
// writes a child only when what it wants changed, not on server defaults.
const annotationSpecHash = "gamehall.dev/spec-hash"

// HallReconciler runs a Hall as a Deployment, Service, ServiceAccount and a
// RoleBinding of ClusterRole HallClusterRole. It reads no Secret: the pods
// mount the ones the spec names (docs/security.md).
type HallReconciler struct {
	client.Client
	// APIReader reads an object that holds a child's name and is not in
	// the cache (CacheOptions caches the Hall-labelled ones only).
	APIReader client.Reader
	Recorder  events.EventRecorder
	Config    Config
}

// HallClusterRole is what hall pods may do (read Regions and RoomShards),
// shipped in config/rbac from the marker in hall/kubesource. The operator
// binds it in a Hall's namespace and holds `bind` on it and nothing else of
// RBAC: it never creates Roles, so it cannot grant what it holds itself.
const HallClusterRole = "gamehall-hall"

// +kubebuilder:rbac:groups=gamehall.dev,resources=halls,verbs=get;list;watch
// +kubebuilder:rbac:groups=gamehall.dev,resources=halls/status,verbs=patch
// +kubebuilder:rbac:groups=gamehall.dev,resources=halls/finalizers,verbs=update
// +kubebuilder:rbac:groups=gamehall.dev,resources=regions,verbs=get;list;watch
// +kubebuilder:rbac:groups=gamehall.dev,resources=roomshards,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=services;serviceaccounts,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=rolebindings,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=bind,resourceNames=gamehall-hall
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile makes the Hall's children match its spec and reports their state.
func (r *HallReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	defer observe("hall", time.Now())
	var hall gamehallv1.Hall
	if err := r.Get(ctx, req.NamespacedName, &hall); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !hall.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // children are owned: the garbage collector removes them
	}
	before := hall.DeepCopy()
	res, err := r.reconcileNormal(ctx, &hall)
	hall.Status.ObservedGeneration = hall.Generation
	if perr := patchStatus(ctx, r.Client, before, &hall, func(h *gamehallv1.Hall) any { return h.Status }); perr != nil {
		err = errors.Join(err, fmt.Errorf("status: %w", perr))
	}
	return res, err
}

const hallChildSuffix = "-hall"

// HallChildName names all of a Hall's children.
func HallChildName(hall string) string { return hall + hallChildSuffix }

func hallLabels(h *gamehallv1.Hall) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "gamehall",
		"app.kubernetes.io/component": "hall",
		gamehallv1.LabelHall:          h.Name,
	}
}

func (r *HallReconciler) reconcileNormal(ctx context.Context, hall *gamehallv1.Hall) (ctrl.Result, error) {
	st := &hall.Status
	name := HallChildName(hall.Name)
	sel := labels.Everything()
	if hall.Spec.RegionSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(hall.Spec.RegionSelector)
		if err != nil {
			setHallReady(hall, metav1.ConditionFalse, gamehallv1.ReasonDeploymentUnavailable, fmt.Sprintf("regionSelector: %v", err))
			return ctrl.Result{}, nil
		}
		sel = s
	}

	var regions gamehallv1.RegionList
	if err := r.List(ctx, &regions, client.InNamespace(hall.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list Regions: %w", err)
	}

	children := []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: hall.Namespace}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: hall.Namespace},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: HallClusterRole},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: hall.Namespace}}},
		r.service(hall, name),
	}
	var svc *corev1.Service
	for _, want := range children {
		got, err := r.apply(ctx, hall, want)
		if e, ok := errors.AsType[*NotOwnedError](err); ok {
			r.refuseAdoption(hall, e)
			return ctrl.Result{RequeueAfter: notOwnedRetry}, nil
		}
		if err != nil {
			return ctrl.Result{}, err
		}
		if o, ok := got.(*corev1.Service); ok {
			svc = o
		}
	}
	// The pods name the address clients reach them at, which the Service
	// decides (a load balancer's comes later, and changes the pods then).
	address, addressed := HallAddress(hall, svc)
	got, err := r.apply(ctx, hall, r.deployment(hall, name, sel, address, regions.Items))
	if e, ok := errors.AsType[*NotOwnedError](err); ok {
		r.refuseAdoption(hall, e)
		return ctrl.Result{RequeueAfter: notOwnedRetry}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	deploy := got.(*appsv1.Deployment)
	meta.SetStatusCondition(&st.Conditions, addressed)

	// Status from what was observed.
	st.Replicas, st.ReadyReplicas = deploy.Status.Replicas, deploy.Status.ReadyReplicas
	st.Regions, st.Shards, st.Players = int32(len(regions.Items)), 0, 0
	for _, rg := range regions.Items {
		st.Shards += rg.Status.ReadyShards
		st.Players += rg.Status.Players
	}
	st.Endpoint = address

	available := false
	for _, c := range deploy.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			available = true
		}
	}
	switch {
	case available && deploy.Status.ReadyReplicas >= hall.Spec.Replicas:
		setHallReady(hall, metav1.ConditionTrue, gamehallv1.ReasonDeploymentAvailable, fmt.Sprintf("%d of %d hall replicas ready", deploy.Status.ReadyReplicas, hall.Spec.Replicas))
	case available:
		setHallReady(hall, metav1.ConditionFalse, gamehallv1.ReasonDeploymentProgressing, fmt.Sprintf("%d of %d hall replicas ready", deploy.Status.ReadyReplicas, hall.Spec.Replicas))
	default:
		// The operator cannot see Secrets (it reads none): a missing one
		// shows in the pods' events (FailedMount), which the message points at.
		setHallReady(hall, metav1.ConditionFalse, gamehallv1.ReasonDeploymentUnavailable, fmt.Sprintf(
			"Deployment %s is not available: %d of %d replicas ready (its pods need Secret %q, login.signingKeySecretName, and Secret %q, login.verificationKeySecretName: 'gamehall keys new' prints how to create them; kubectl describe pods -l %s=%s)",
			deploy.Name, deploy.Status.ReadyReplicas, hall.Spec.Replicas, hall.Spec.Login.SigningKeySecretName, hall.Spec.Login.VerificationKeySecretName, gamehallv1.LabelHall, hall.Name))
	}
	return ctrl.Result{}, nil
}

// refuseAdoption reports a child name taken by an object the Hall does not
// control; a Warning event the first time, the condition until it is gone.
func (r *HallReconciler) refuseAdoption(hall *gamehallv1.Hall, e *NotOwnedError) {
	prev := meta.FindStatusCondition(hall.Status.Conditions, gamehallv1.ConditionReady)
	if prev == nil || prev.Reason != gamehallv1.ReasonObjectNotOwned || prev.Message != e.Error() {
		event(r.Recorder, hall, true, EventObjectNotOwned, "Reconcile", "%s", e.Error())
	}
	setHallReady(hall, metav1.ConditionFalse, gamehallv1.ReasonObjectNotOwned, e.Error())
}

func setHallReady(h *gamehallv1.Hall, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&h.Status.Conditions, metav1.Condition{
		Type: gamehallv1.ConditionReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: h.Generation,
	})
}

// apply creates want, or updates the existing child when the hash of what the
// operator wants changed. It returns the child as stored, or a *NotOwnedError
// when an object of that name exists that the Hall does not control: it is
// never taken over (whoever made it may rely on it; the Hall's spec must not
// be a way to rewrite objects its author could not).
func (r *HallReconciler) apply(ctx context.Context, hall *gamehallv1.Hall, want client.Object) (client.Object, error) {
	kind := fmt.Sprintf("%T", want)[1:]
	kind = kind[strings.IndexByte(kind, '.')+1:]
	want.SetLabels(hallLabels(hall))
	if err := controllerutil.SetControllerReference(hall, want, r.Scheme()); err != nil {
		return nil, err
	}
	hash, err := specHash(want)
	if err != nil {
		return nil, err
	}
	want.SetAnnotations(map[string]string{annotationSpecHash: hash})

	got := want.DeepCopyObject().(client.Object)
	err = r.Get(ctx, client.ObjectKeyFromObject(want), got)
	if apierrors.IsNotFound(err) {
		err = r.Create(ctx, want, FieldOwner)
		if err == nil {
			event(r.Recorder, hall, false, EventHallChildrenUpdated, "Create", "created %s %s", kind, want.GetName())
			return want, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create %s %s: %w", kind, want.GetName(), err)
		}
		// The cache holds only objects with a Hall label (CacheOptions): read
		// the one that has the name to see whose it is.
		err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(want), got)
	}
	if err != nil {
		return nil, err
	}
	if !metav1.IsControlledBy(got, hall) {
		return nil, &NotOwnedError{Kind: kind, Namespace: got.GetNamespace(), Name: got.GetName(), Owner: "Hall " + hall.Name}
	}
	if got.GetAnnotations()[annotationSpecHash] == hash {
		return got, nil
	}
	if rb, ok := got.(*rbacv1.RoleBinding); ok && rb.RoleRef != want.(*rbacv1.RoleBinding).RoleRef {
		// roleRef is immutable: an older operator bound a Role of its own.
		uid := got.GetUID()
		if err := r.Delete(ctx, got, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("replace RoleBinding %s: %w", got.GetName(), err)
		}
		if err := r.Create(ctx, want, FieldOwner); err != nil {
			return nil, fmt.Errorf("create %s %s: %w", kind, want.GetName(), err)
		}
		event(r.Recorder, hall, false, EventHallChildrenUpdated, "Create", "replaced RoleBinding %s (now of ClusterRole %s)", want.GetName(), HallClusterRole)
		return want, nil
	}
	// Carry over what the API server owns, replace what the operator owns.
	want.SetResourceVersion(got.GetResourceVersion())
	if s, ok := want.(*corev1.Service); ok {
		old := got.(*corev1.Service)
		s.Spec.ClusterIP, s.Spec.ClusterIPs = old.Spec.ClusterIP, old.Spec.ClusterIPs
		s.Status = old.Status
	}
	if d, ok := want.(*appsv1.Deployment); ok {
		d.Status = got.(*appsv1.Deployment).Status
	}
	if err := r.Update(ctx, want, FieldOwner); err != nil {
		return nil, fmt.Errorf("update %s %s: %w", kind, want.GetName(), err)
	}
	event(r.Recorder, hall, false, EventHallChildrenUpdated, "Update", "updated %s %s", kind, want.GetName())
	return want, nil
}

func specHash(o client.Object) (string, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

func (r *HallReconciler) service(hall *gamehallv1.Hall, name string) *corev1.Service {
	typ := hall.Spec.Service.Type
	if typ == "" {
		typ = corev1.ServiceTypeClusterIP
	}
	port := hall.Spec.Service.Port
	if port == 0 {
		port = HallClientPort
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: hall.Namespace},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: hallLabels(hall),
			Ports: []corev1.ServicePort{{
				Name: HallClientPortName, Port: port, Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromString(HallClientPortName),
			}},
		},
	}
}

// HallArgs are the `gamehall hall` arguments for a Hall spec; address is
// where clients reach the halls (HallAddress; "": unknown, none named).
func HallArgs(hall *gamehallv1.Hall, sel labels.Selector, address string, regionDatabases bool) []string {
	max := hall.Spec.MaxClientsPerReplica
	if max == 0 {
		max = 10000
	}
	args := []string{"hall",
		"--listen=:" + strconv.Itoa(HallClientPort),
		"--internal-listen=:" + strconv.Itoa(HallInternalPort),
		"--namespace=" + hall.Namespace,
		// Kubernetes expands $(VAR) from the container's env.
		"--name=$(POD_NAME)",
		"--region-selector=" + sel.String(),
		"--max-clients=" + strconv.Itoa(int(max)),
		"--signing-keys=" + HallSigningKeysDir,
		"--verification-keys=" + VerificationKeysDir,
	}
	if hall.Spec.Login.AccountsSecretName != "" {
		args = append(args, "--accounts="+HallAccountsDir+"/accounts")
	}
	if hall.Spec.Login.Guest {
		args = append(args, "--guest")
	}
	if p := hall.Spec.Login.TrustedProxies; len(p) > 0 {
		args = append(args, "--trusted-proxies="+strings.Join(p, ","))
	}
	if regionDatabases {
		args = append(args, "--databases-dir="+HallDatabasesDir)
	}
	if ttl := hall.Spec.Login.TicketTTLDuration(); ttl > 0 {
		args = append(args, "--ticket-ttl="+ttl.String())
	}
	if hall.Spec.Presence.RedisAddress != "" {
		args = append(args, "--redis="+hall.Spec.Presence.RedisAddress)
	}
	if address != "" {
		args = append(args, "--advertise-url="+address)
	}
	return args
}

func (r *HallReconciler) deployment(hall *gamehallv1.Hall, name string, sel labels.Selector, address string, regions []gamehallv1.Region) *appsv1.Deployment {
	image := hall.Spec.Image
	if image == "" {
		image = r.Config.HallImage
	}
	lbl := hallLabels(hall)
	replicas := hall.Spec.Replicas
	optional := false
	volumes := []corev1.Volume{{Name: "signing-keys", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: hall.Spec.Login.SigningKeySecretName, Optional: &optional}}}}
	volumes = append(volumes, corev1.Volume{Name: "verification-keys", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: hall.Spec.Login.VerificationKeySecretName, Optional: &optional}}})
	mounts := []corev1.VolumeMount{{Name: "signing-keys", MountPath: HallSigningKeysDir, ReadOnly: true}, {Name: "verification-keys", MountPath: VerificationKeysDir, ReadOnly: true}}
	if hall.Spec.Login.AccountsSecretName != "" {
		volumes = append(volumes, corev1.Volume{Name: "accounts", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: hall.Spec.Login.AccountsSecretName, Optional: &optional}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "accounts", MountPath: HallAccountsDir, ReadOnly: true})
	}
	dbs := hallDatabasesVolume(regions)
	if dbs != nil {
		volumes = append(volumes, *dbs)
		mounts = append(mounts, corev1.VolumeMount{Name: dbs.Name, MountPath: HallDatabasesDir, ReadOnly: true})
	}
	env := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
	}
	if d := hall.Spec.Login.AccountsDatabase; d != nil {
		env = append(env, databaseEnv(AccountsDatabaseURLEnv, d))
	}
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(HallClientPortName)}},
			PeriodSeconds: period, FailureThreshold: 3, TimeoutSeconds: 2,
		}
	}
	noEscalation, nonRoot := false, true
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: hall.Namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{
					ServiceAccountName: name,
					// Pod Security "restricted" admits the hall pods (the image runs as 65532).
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &nonRoot, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{
						Name:  "hall",
						Image: image,
						Args:  HallArgs(hall, sel, address, dbs != nil),
						Env:   env,
						Ports: []corev1.ContainerPort{
							{Name: HallClientPortName, ContainerPort: HallClientPort, Protocol: corev1.ProtocolTCP},
							{Name: HallInternalPortName, ContainerPort: HallInternalPort, Protocol: corev1.ProtocolTCP},
						},
						LivenessProbe:   probe("/healthz", 10),
						ReadinessProbe:  probe("/readyz", 5),
						Resources:       hall.Spec.Resources,
						VolumeMounts:    mounts,
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &noEscalation, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					}},
					Volumes: volumes,
				},
			},
		},
	}
}

// SetupWithManager watches Halls, their children, and Regions (whose totals
// the Hall status sums). Children are mapped to their Hall by name.
func (r *HallReconciler) SetupWithManager(mgr ctrl.Manager) error {
	byName := handler.EnqueueRequestsFromMapFunc(hallOfChild)
	return ctrl.NewControllerManagedBy(mgr).
		For(&gamehallv1.Hall{}).
		Watches(&appsv1.Deployment{}, byName).
		Watches(&corev1.Service{}, byName).
		Watches(&corev1.ServiceAccount{}, byName).
		Watches(&rbacv1.RoleBinding{}, byName).
		Watches(&gamehallv1.Region{}, handler.EnqueueRequestsFromMapFunc(r.hallsOfNamespace)).
		Named("hall").
		Complete(r)
}

// hallOfChild is the Hall whose children would bear o's name (HallChildName).
func hallOfChild(_ context.Context, o client.Object) []reconcile.Request {
	hall, ok := strings.CutSuffix(o.GetName(), hallChildSuffix)
	if !ok || hall == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: hall}}}
}

func (r *HallReconciler) hallsOfNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	var list gamehallv1.HallList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, h := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&h)})
	}
	return reqs
}
