package controllers

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// CacheOptions is the manager's cache: namespace "" watches all of them.
// Of the kinds the operator writes, it holds only the objects it labels
// (a Hall's children, a shard's GameServers), not every Deployment,
// Service, ServiceAccount, RoleBinding and GameServer of the cluster: RBAC
// cannot narrow a list by label, the cache can (docs/security.md).
func CacheOptions(cfg *rest.Config, namespace string) (cache.Options, error) {
	has := func(key string) cache.ByObject {
		r, err := labels.NewRequirement(key, selection.Exists, nil)
		if err != nil {
			panic(err) // a constant key
		}
		return cache.ByObject{Label: labels.NewSelector().Add(*r)}
	}
	// A per-kind setting makes the cache ask whether the kind is namespaced
	// when it is made, before the operator waits for the API server and the
	// CRDs (WaitForCRDs): these kinds' mappings are known, so it asks nobody.
	static := meta.NewDefaultRESTMapper(nil)
	for gvk, plural := range map[schema.GroupVersionKind]string{
		appsv1.SchemeGroupVersion.WithKind("Deployment"):     "deployments",
		corev1.SchemeGroupVersion.WithKind("Service"):        "services",
		corev1.SchemeGroupVersion.WithKind("ServiceAccount"): "serviceaccounts",
		rbacv1.SchemeGroupVersion.WithKind("RoleBinding"):    "rolebindings",
		agonesv1.GroupVersion.WithKind("GameServer"):         "gameservers",
	} {
		static.AddSpecific(gvk, gvk.GroupVersion().WithResource(plural), gvk.GroupVersion().WithResource(plural[:len(plural)-1]), meta.RESTScopeNamespace)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return cache.Options{}, fmt.Errorf("cache: %w", err)
	}
	dynamic, err := apiutil.NewDynamicRESTMapper(cfg, hc)
	if err != nil {
		return cache.Options{}, fmt.Errorf("cache: %w", err)
	}
	opts := cache.Options{
		Mapper: meta.FirstHitRESTMapper{MultiRESTMapper: meta.MultiRESTMapper{static, dynamic}},
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}:     has(gamehallv1.LabelHall),
			&corev1.Service{}:        has(gamehallv1.LabelHall),
			&corev1.ServiceAccount{}: has(gamehallv1.LabelHall),
			&rbacv1.RoleBinding{}:    has(gamehallv1.LabelHall),
			&agonesv1.GameServer{}:   has(gamehallv1.LabelRoomShard),
		},
	}
	if namespace != "" {
		opts.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	return opts, nil
}
