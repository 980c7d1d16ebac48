package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// CacheOptions is the manager's cache: namespace "" watches all of them.
// Of the kinds the operator writes, it holds only the objects it labels
// (a Hall's children, a shard's GameServers), not every Deployment,
// Service, ServiceAccount, RoleBinding and GameServer of the cluster: RBAC
// cannot narrow a list by label, the cache can (docs/security.md).
func CacheOptions(namespace string) cache.Options {
	has := func(key string) cache.ByObject {
		r, err := labels.NewRequirement(key, selection.Exists, nil)
		if err != nil {
			panic(err) // a constant key
		}
		return cache.ByObject{Label: labels.NewSelector().Add(*r)}
	}
	opts := cache.Options{ByObject: map[client.Object]cache.ByObject{
		&appsv1.Deployment{}:     has(gamehallv1.LabelHall),
		&corev1.Service{}:        has(gamehallv1.LabelHall),
		&corev1.ServiceAccount{}: has(gamehallv1.LabelHall),
		&rbacv1.RoleBinding{}:    has(gamehallv1.LabelHall),
		&agonesv1.GameServer{}:   has(gamehallv1.LabelRoomShard),
	}}
	if namespace != "" {
		opts.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	return opts
}
