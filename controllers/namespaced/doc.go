// Package namespaced holds the test of config/namespaced: the operator for
// one namespace, with its rights bound there only (no ClusterRoleBinding).
package namespaced
