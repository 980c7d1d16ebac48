package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GameServerState is the lifecycle state Agones reports in status.state.
type GameServerState string

// The states of the real CRD's enum that gamehall acts on.
const (
	GameServerStatePortAllocation GameServerState = "PortAllocation"
	GameServerStateCreating       GameServerState = "Creating"
	GameServerStateStarting       GameServerState = "Starting"
	GameServerStateScheduled      GameServerState = "Scheduled"
	GameServerStateRequestReady   GameServerState = "RequestReady"
	GameServerStateReady          GameServerState = "Ready"
	GameServerStateShutdown       GameServerState = "Shutdown"
	GameServerStateError          GameServerState = "Error"
	GameServerStateUnhealthy      GameServerState = "Unhealthy"
	GameServerStateReserved       GameServerState = "Reserved"
	GameServerStateAllocated      GameServerState = "Allocated"
)

// PortPolicy says how Agones picks a port's host port.
type PortPolicy string

// Port policies of the real CRD.
const (
	Dynamic     PortPolicy = "Dynamic"
	Static      PortPolicy = "Static"
	Passthrough PortPolicy = "Passthrough"
	None        PortPolicy = "None"
)

// EvictionSafe says whether Agones lets the cluster autoscaler evict the pod.
type EvictionSafe string

// Eviction policies of the real CRD.
const (
	EvictionSafeAlways    EvictionSafe = "Always"
	EvictionSafeOnUpgrade EvictionSafe = "OnUpgrade"
	EvictionSafeNever     EvictionSafe = "Never"
)

// GameServer is one Agones game-server pod and its state.
//
// +kubebuilder:object:root=true
type GameServer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   GameServerSpec   `json:"spec,omitempty"`
	Status GameServerStatus `json:"status,omitempty"`
}

// GameServerList is a list of GameServers.
//
// +kubebuilder:object:root=true
type GameServerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GameServer `json:"items"`
}

// GameServerSpec is the part of the real spec the operator writes.
type GameServerSpec struct {
	// container names the game-server container when the pod has several.
	Container string `json:"container,omitempty"`
	// ports are the ports Agones exposes for the game server.
	Ports []GameServerPort `json:"ports,omitempty"`
	// health configures Agones' health checking of the SDK's Health calls.
	Health Health `json:"health,omitempty"`
	// scheduling is Packed or Distributed.
	Scheduling string `json:"scheduling,omitempty"`
	// counters are the SDK counters, by name.
	Counters map[string]CounterStatus `json:"counters,omitempty"`
	// eviction says whether the pod may be evicted.
	Eviction *Eviction `json:"eviction,omitempty"`
	// sdkServer configures the SDK sidecar.
	SdkServer SdkServer `json:"sdkServer,omitempty"`
	// template is the pod template of the game server.
	Template corev1.PodTemplateSpec `json:"template"`
}

// GameServerPort is one exposed port.
type GameServerPort struct {
	// name identifies the port; status.ports uses the same name.
	Name string `json:"name,omitempty"`
	// portPolicy is Dynamic, Static, Passthrough or None.
	PortPolicy PortPolicy `json:"portPolicy,omitempty"`
	// container is the container the port belongs to.
	Container *string `json:"container,omitempty"`
	// containerPort is the port the process listens on in the pod.
	ContainerPort int32 `json:"containerPort,omitempty"`
	// hostPort is the node port (Static), or the one Agones allocated.
	HostPort int32 `json:"hostPort,omitempty"`
	// protocol is UDP, TCP or TCPUDP.
	Protocol corev1.Protocol `json:"protocol,omitempty"`
}

// Health configures health checking.
type Health struct {
	// disabled turns health checking off.
	Disabled bool `json:"disabled,omitempty"`
	// periodSeconds is how often the SDK must report health.
	PeriodSeconds int32 `json:"periodSeconds,omitempty"`
	// failureThreshold is how many missed reports make the server Unhealthy.
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
	// initialDelaySeconds is the grace before health checking starts.
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
}

// Eviction configures pod eviction.
type Eviction struct {
	// safe is Always, OnUpgrade or Never.
	Safe EvictionSafe `json:"safe,omitempty"`
}

// SdkServer configures the SDK sidecar.
type SdkServer struct {
	// logLevel is Error, Info, Debug or Trace.
	LogLevel string `json:"logLevel,omitempty"`
	// grpcPort is the sidecar's gRPC port.
	GRPCPort int32 `json:"grpcPort,omitempty"`
	// httpPort is the sidecar's REST port (AGONES_SDK_HTTP_PORT in the pod).
	HTTPPort int32 `json:"httpPort,omitempty"`
}

// CounterStatus is a counter's value and capacity.
type CounterStatus struct {
	// count is the counter's value.
	Count int64 `json:"count"`
	// capacity is the counter's maximum.
	Capacity int64 `json:"capacity"`
}

// GameServerStatus is the part of the real status the operator reads.
type GameServerStatus struct {
	// state is the lifecycle state.
	State GameServerState `json:"state,omitempty"`
	// ports are the allocated host ports, by name.
	Ports []GameServerStatusPort `json:"ports,omitempty"`
	// address is the node address players connect to.
	Address string `json:"address,omitempty"`
	// addresses lists the node's and pod's addresses (type PodIP for the pod).
	Addresses []corev1.NodeAddress `json:"addresses,omitempty"`
	// nodeName is the node the pod runs on.
	NodeName string `json:"nodeName,omitempty"`
	// counters are the counters' current values, by name.
	Counters map[string]CounterStatus `json:"counters,omitempty"`
}

// GameServerStatusPort is one allocated port.
type GameServerStatusPort struct {
	// name matches spec.ports[].name.
	Name string `json:"name,omitempty"`
	// port is the allocated host port.
	Port int32 `json:"port"`
}

func init() {
	SchemeBuilder.Register(&GameServer{}, &GameServerList{})
}
