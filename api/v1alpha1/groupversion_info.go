// Package v1alpha1 holds the gamehall.dev/v1alpha1 API: Region, RoomShard and Hall.
//
// +kubebuilder:object:generate=true
// +groupName=gamehall.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is gamehall.dev/v1alpha1.
	GroupVersion = schema.GroupVersion{Group: "gamehall.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the API's types.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the API's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
