// Package v1 is a typed mirror of the part of Agones' agones.dev/v1 GameServer
// that the gamehall operator reads and writes. The Agones Go module is not on
// the Go module proxy, so this mirror stands in for it; the schema it must
// agree with is the real CRD in config/agones/gameserver-crd.yaml, which every
// test control plane installs. No CRD is generated from this package.
//
// +kubebuilder:object:generate=true
// +kubebuilder:skip
// +groupName=agones.dev
package v1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is agones.dev/v1.
	GroupVersion = schema.GroupVersion{Group: "agones.dev", Version: "v1"}

	// SchemeBuilder registers the mirrored types.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the mirrored types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
