//go:build tools

// Package tools pins the Kubernetes commands that `make envtest` builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
