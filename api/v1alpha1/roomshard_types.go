package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RoomShardSpec is one game-server process's share of a Region: rooms
// firstRoom … firstRoom+rooms-1. The Region controller writes it.
//
// +kubebuilder:validation:XValidation:rule="self.firstRoom == self.index * self.rooms + 1",message="firstRoom must be index × rooms + 1: shards own consecutive, non-overlapping room ranges"
// +kubebuilder:validation:XValidation:rule="self.rooms * self.roomCapacity <= 100000",message="rooms × roomCapacity must be at most 100000 players per shard"
// +kubebuilder:validation:XValidation:rule="!has(self.drainStartTime) || self.draining",message="drainStartTime may only be set while draining"
type RoomShardSpec struct {
	// region is the name of the Region (same namespace) this shard belongs to. Immutable.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="region is immutable: a shard's players belong to its Region"
	Region string `json:"region"`

	// index is the shard's position in its Region (0-based). Immutable: it fixes the room numbers.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=999
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="index is immutable: it fixes the room numbers players are in"
	Index int32 `json:"index"`

	// game is the table game played in the shard's rooms.
	// +kubebuilder:validation:Enum=doudizhu
	Game string `json:"game"`

	// firstRoom is the number of the shard's first room (index × rooms + 1).
	// +kubebuilder:validation:Minimum=1
	FirstRoom int32 `json:"firstRoom"`

	// rooms is how many rooms the shard hosts.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=200
	Rooms int32 `json:"rooms"`

	// roomCapacity is how many players fit in one room.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	RoomCapacity int32 `json:"roomCapacity"`

	// tablesPerRoom is how many game tables each room has.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	TablesPerRoom int32 `json:"tablesPerRoom"`

	// draining stops the hall from offering the shard's rooms and the shard
	// from taking new players; players already in stay until they leave.
	// +optional
	Draining bool `json:"draining,omitempty"`

	// drainStartTime is when draining began; a Region drainTimeout counts from it.
	// +optional
	DrainStartTime *metav1.Time `json:"drainStartTime,omitempty"`
}

// RoomShardStatus mirrors the shard's GameServer.
type RoomShardStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// gameServer is the name of the Agones GameServer running the shard.
	// +optional
	GameServer string `json:"gameServer,omitempty"`
	// state is the GameServer's state (Scheduled, Ready, Allocated, Unhealthy, …),
	// or Pending before it exists.
	// +optional
	State string `json:"state,omitempty"`
	// rooms is the shard's room range for people, e.g. "51-100".
	// +optional
	Rooms string `json:"rooms,omitempty"`
	// address is the host players connect to.
	// +optional
	Address string `json:"address,omitempty"`
	// port is the players' TCP port on address.
	// +optional
	Port int32 `json:"port,omitempty"`
	// internalAddress is the pod's address, where halls follow the shard's occupancy stream.
	// +optional
	InternalAddress string `json:"internalAddress,omitempty"`
	// internalPort is the pod port of the occupancy stream, health and metrics.
	// +optional
	InternalPort int32 `json:"internalPort,omitempty"`
	// players is the number of players the game server last reported.
	Players int64 `json:"players"`
	// capacity is rooms × roomCapacity.
	Capacity int64 `json:"capacity"`
	// lastReportTime is when the players count or the rooms last changed in the GameServer.
	// +optional
	LastReportTime *metav1.Time `json:"lastReportTime,omitempty"`
	// fullRooms is how many rooms have no free seat, as last reported.
	FullRooms int32 `json:"fullRooms"`
	// roomList is every room of the shard as its game server last reported
	// it (condition RoomsReported); empty before the first report.
	// +listType=map
	// +listMapKey=room
	// +kubebuilder:validation:MaxItems=1000
	// +optional
	RoomList []RoomStatus `json:"roomList,omitempty"`
	// templateHash is the template its GameServer was made from (the
	// GameServer's label gamehall.dev/template-hash); the Region compares it
	// with its status.templateHash.
	// +optional
	TemplateHash string `json:"templateHash,omitempty"`
	// restarts counts GameServers replaced after they failed.
	// +optional
	Restarts int32 `json:"restarts,omitempty"`
	// conditions: Ready (the GameServer is Ready and reachable), Draining
	// (DrainRequested, DrainConfirmed by the game server, Drained,
	// UndrainRequested, or NotDraining) and RoomsReported.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RoomState says whether a room takes another player.
// +kubebuilder:validation:Enum=Open;Full
type RoomState string

const (
	RoomOpen RoomState = "Open"
	RoomFull RoomState = "Full"
)

// RoomStatus is one room's occupancy.
type RoomStatus struct {
	// room is the room's number in its Region.
	Room int32 `json:"room"`
	// players is how many players are in the room.
	Players int32 `json:"players"`
	// capacity is how many players the room seats.
	Capacity int32 `json:"capacity"`
	// state is Full when players reached capacity, else Open.
	State RoomState `json:"state"`
}

// RoomShard is one game-server process: a range of a Region's rooms, run as one Agones GameServer.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=shard,categories=gamehall
// +kubebuilder:printcolumn:name="Region",type=string,JSONPath=`.spec.region`
// +kubebuilder:printcolumn:name="Rooms",type=string,JSONPath=`.status.rooms`
// +kubebuilder:printcolumn:name="Players",type=integer,JSONPath=`.status.players`
// +kubebuilder:printcolumn:name="Capacity",type=integer,JSONPath=`.status.capacity`
// +kubebuilder:printcolumn:name="Full",type=integer,JSONPath=`.status.fullRooms`,priority=1,description="Rooms with no free seat"
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Drain",type=string,JSONPath=`.status.conditions[?(@.type=="Draining")].reason`,priority=1
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.status.address`
// +kubebuilder:printcolumn:name="Port",type=integer,JSONPath=`.status.port`,priority=1
// +kubebuilder:printcolumn:name="Template",type=string,JSONPath=`.status.templateHash`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RoomShard struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired shard.
	Spec RoomShardSpec `json:"spec,omitempty"`
	// status is the observed shard.
	Status RoomShardStatus `json:"status,omitempty"`
}

// RoomShardList is a list of RoomShards.
//
// +kubebuilder:object:root=true
type RoomShardList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RoomShard `json:"items"`
}

// Capacity is the number of seats in the shard.
func (s *RoomShard) Capacity() int64 { return int64(s.Spec.Rooms) * int64(s.Spec.RoomCapacity) }

// LastRoom is the number of the shard's last room.
func (s *RoomShard) LastRoom() int32 { return s.Spec.FirstRoom + s.Spec.Rooms - 1 }

func init() {
	SchemeBuilder.Register(&RoomShard{}, &RoomShardList{})
}
