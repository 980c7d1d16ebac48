// Package controllers holds the operator's reconcilers: one per kind (Region,
// RoomShard, Hall). RBAC comes only from the +kubebuilder:rbac markers here.
package controllers
