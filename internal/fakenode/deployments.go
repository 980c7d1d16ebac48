package fakenode

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Deployments plays the Deployment controller, without ReplicaSets: it
// keeps spec.replicas pods of the current template (label
// pod-template-hash), replacing older ones by the strategy (RollingUpdate
// with maxSurge/maxUnavailable, or Recreate), and writes the status kubectl
// and the operator read (replicas, updated, ready, available, conditions).
type Deployments struct {
	Client client.Client
	Log    logr.Logger
}

// Reconcile moves one Deployment a step towards its spec.
func (d *Deployments) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var dep appsv1.Deployment
	if err := d.Client.Get(ctx, req.NamespacedName, &dep); err != nil || !dep.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	hash := templateHash(&dep.Spec.Template)
	var pods corev1.PodList
	if err := d.Client.List(ctx, &pods, client.InNamespace(dep.Namespace)); err != nil {
		return ctrl.Result{}, err
	}
	var cur, old []*corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if !metav1.IsControlledBy(p, &dep) || !p.DeletionTimestamp.IsZero() || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			if metav1.IsControlledBy(p, &dep) && p.DeletionTimestamp.IsZero() {
				_ = d.Client.Delete(ctx, p) // a failed pod is replaced
			}
			continue
		}
		if p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] == hash {
			cur = append(cur, p)
		} else {
			old = append(old, p)
		}
	}
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	surge, unavail := rollingBounds(&dep, want)
	readyOf := func(ps []*corev1.Pod) int32 {
		n := int32(0)
		for _, p := range ps {
			if podReady(p) {
				n++
			}
		}
		return n
	}
	total := int32(len(cur) + len(old))
	switch {
	case int32(len(cur)) > want: // scale down the newest first
		slices.SortFunc(cur, func(a, b *corev1.Pod) int { return b.CreationTimestamp.Compare(a.CreationTimestamp.Time) })
		for _, p := range cur[:int32(len(cur))-want] {
			if err := d.Client.Delete(ctx, p); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, err
			}
		}
	case dep.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType && len(old) > 0:
		for _, p := range old {
			if err := d.Client.Delete(ctx, p); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, err
			}
		}
	case int32(len(cur)) < want && total < want+surge:
		for n := min(want-int32(len(cur)), want+surge-total); n > 0; n-- {
			if err := d.Client.Create(ctx, podFor(&dep, hash)); err != nil {
				return ctrl.Result{}, fmt.Errorf("create a pod of Deployment %s: %w", dep.Name, err)
			}
		}
	}
	// Old pods go while enough pods stay ready.
	ready := readyOf(cur) + readyOf(old)
	for _, p := range old {
		if dep.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
			break
		}
		if podReady(p) && ready-1 < want-unavail {
			continue
		}
		if err := d.Client.Delete(ctx, p); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, err
		}
		if podReady(p) {
			ready--
		}
	}
	return ctrl.Result{RequeueAfter: 5 * time.Second}, d.writeStatus(ctx, &dep, cur, old, want, unavail, readyOf)
}

func (d *Deployments) writeStatus(ctx context.Context, dep *appsv1.Deployment, cur, old []*corev1.Pod, want, unavail int32, readyOf func([]*corev1.Pod) int32) error {
	ready := readyOf(cur) + readyOf(old)
	replicas := int32(len(cur) + len(old))
	cond := func(t appsv1.DeploymentConditionType, ok bool, reason, msg string) appsv1.DeploymentCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		now := metav1.Now()
		for _, c := range dep.Status.Conditions {
			if c.Type == t && c.Status == s {
				now = c.LastTransitionTime
			}
		}
		return appsv1.DeploymentCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: now, LastUpdateTime: now}
	}
	available := ready >= want-unavail
	complete := int32(len(cur)) == want && readyOf(cur) == want && len(old) == 0
	availReason, progReason := "MinimumReplicasAvailable", "ReplicaSetUpdated"
	if !available {
		availReason = "MinimumReplicasUnavailable"
	}
	if complete {
		progReason = "NewReplicaSetAvailable"
	}
	st := appsv1.DeploymentStatus{
		ObservedGeneration: dep.Generation, Replicas: replicas, UpdatedReplicas: int32(len(cur)),
		ReadyReplicas: ready, AvailableReplicas: ready, UnavailableReplicas: max(0, want-ready),
		Conditions: []appsv1.DeploymentCondition{
			cond(appsv1.DeploymentAvailable, available, availReason, fmt.Sprintf("%d of %d replicas ready", ready, want)),
			cond(appsv1.DeploymentProgressing, true, progReason, fmt.Sprintf("%d of %d pods run the current template", len(cur), want)),
		},
	}
	if equalJSON(st, dep.Status) {
		return nil
	}
	body, err := json.Marshal(map[string]any{"status": st})
	if err != nil {
		return err
	}
	return d.Client.Status().Patch(ctx, dep, client.RawPatch(types.MergePatchType, body))
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func rollingBounds(dep *appsv1.Deployment, want int32) (surge, unavail int32) {
	surge, unavail = 1, 0
	if dep.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return 0, want
	}
	if ru := dep.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			v, _ := intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, int(want), true)
			surge = int32(v)
		}
		if ru.MaxUnavailable != nil {
			v, _ := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, int(want), false)
			unavail = int32(v)
		}
	}
	if surge == 0 && unavail == 0 {
		surge = 1
	}
	return surge, unavail
}

func templateHash(t *corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(t)
	h := fnv.New32a()
	h.Write(b)
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

func podFor(dep *appsv1.Deployment, hash string) *corev1.Pod {
	t := dep.Spec.Template.DeepCopy()
	lbl := map[string]string{}
	for k, v := range t.Labels {
		lbl[k] = v
	}
	lbl[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      dep.Name + "-" + hash + "-" + rand.String(5),
			Namespace: dep.Namespace, Labels: lbl, Annotations: t.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(dep, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
		},
		Spec: t.Spec,
	}
}

// SetupWithManager reconciles Deployments and their pods.
func (d *Deployments) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&appsv1.Deployment{}).Owns(&corev1.Pod{}).Named("fakenode-deployments").Complete(d)
}
