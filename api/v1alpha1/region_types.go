package v1alpha1

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RegionSpec is a zone of one game and how its shards scale.
//
// +kubebuilder:validation:XValidation:rule="self.roomsPerShard * self.roomCapacity <= 100000",message="roomsPerShard × roomCapacity must be at most 100000 players per shard: one game-server process cannot hold more connections"
// +kubebuilder:validation:XValidation:rule="self.minShards <= self.maxShards",message="minShards must not exceed maxShards"
type RegionSpec struct {
	// game is the table game played in this Region's rooms. Immutable: the
	// rooms' tables and the players in them belong to that game.
	// +kubebuilder:validation:Enum=doudizhu
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="game is immutable: create a new Region for another game"
	Game string `json:"game"`

	// displayName is what the hall shows players, e.g. "Dou Dizhu · Zone 1 · South".
	// Defaults to the Region's name.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	DisplayName string `json:"displayName,omitempty"`

	// roomsPerShard is how many rooms one game-server process hosts. Immutable:
	// changing it would renumber the rooms of running shards.
	// +kubebuilder:default=50
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=200
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="roomsPerShard is immutable: it would renumber the rooms players are in"
	RoomsPerShard int32 `json:"roomsPerShard,omitempty"`

	// roomCapacity is how many players fit in one room. Immutable: lowering it
	// would strand players in rooms that no longer fit them.
	// +kubebuilder:default=400
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="roomCapacity is immutable: it would strand players in rooms that no longer fit them"
	RoomCapacity int32 `json:"roomCapacity,omitempty"`

	// tablesPerRoom is how many game tables each room has.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	TablesPerRoom int32 `json:"tablesPerRoom,omitempty"`

	// minShards is the fewest shards kept running, even when empty.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	MinShards int32 `json:"minShards,omitempty"`

	// maxShards is the most shards the operator creates, however full they are.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxShards int32 `json:"maxShards,omitempty"`

	// scaling says when shards are added and drained.
	// +kubebuilder:default={}
	// +optional
	Scaling ScalingSpec `json:"scaling,omitempty"`

	// database names the database that keeps this Region's players' data:
	// balances, stats, leaderboard, game records. Several Regions may name
	// the same one (each row carries its Region) or each its own; the
	// operator gives its URL to the Region's shards (which settle the games)
	// and to the halls that list the Region (which serve the leaderboard).
	// Unset: the Region's games are not rated.
	// +optional
	Database *DatabaseSpec `json:"database,omitempty"`

	// template is the game-server pod template (as in an Agones GameServer).
	// The operator adds the gamehall environment and ports to the container
	// named "gameserver" (or the first one). When empty, the operator's
	// --gameserver-image is used. The presence store and the ticket keys are
	// not set here: the shards inherit them from the Hall that lists the
	// Region (status.hall).
	// +optional
	Template *corev1.PodTemplateSpec `json:"template,omitempty"`
}

// DatabaseSpec names a database through a Secret (same namespace) holding
// its URL, e.g. postgres://gamehall:…@db-south:5432/gamehall. Create it
// with `gamehall migrate --database-url URL` before the first shard starts.
type DatabaseSpec struct {
	// secretName is the Secret holding the URL.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName"`

	// key is the Secret's key whose value is the URL.
	// +kubebuilder:default=dsn
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +optional
	Key string `json:"key,omitempty"`
}

// DefaultDatabaseKey is the Secret key of a DatabaseSpec that names none.
const DefaultDatabaseKey = "dsn"

// KeyOrDefault is the Secret key holding the URL.
func (d *DatabaseSpec) KeyOrDefault() string {
	if d.Key == "" {
		return DefaultDatabaseKey
	}
	return d.Key
}

// File is where a hall finds the URL in the directory of database Secrets
// the operator mounts into it: "<secretName>/<key>".
func (d *DatabaseSpec) File() string { return d.SecretName + "/" + d.KeyOrDefault() }

// ScalingSpec is a Region's scaling policy.
type ScalingSpec struct {
	// targetOccupancyPercent is the share of seats the operator aims to fill:
	// shards = ceil(players / (shard capacity × target)). Lower leaves more
	// headroom for arrivals; higher packs players tighter.
	// +kubebuilder:default=80
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=100
	TargetOccupancyPercent int32 `json:"targetOccupancyPercent,omitempty"`

	// scaleDownDelay is how long the load must stay low before a shard is
	// drained, so short dips do not churn shards.
	// +kubebuilder:default="5m"
	ScaleDownDelay *metav1.Duration `json:"scaleDownDelay,omitempty"`

	// drainTimeout, when set, deletes a draining shard that still has players
	// after this long (they are disconnected, and an event names how many).
	// Unset: a draining shard waits for its last player, however long.
	// +optional
	DrainTimeout *metav1.Duration `json:"drainTimeout,omitempty"`

	// maxSurge is how many shards above the desired count an upgrade may
	// run. When the shards' template changes (a new image in the Region's
	// template or the operator's, or the Hall's presence store or keys),
	// shards on the old one are replaced without cutting a player: new
	// shards start first, at most maxSurge at a time, and an old one drains
	// only when the ready shards left make the desired count; it goes when
	// its last player has left (or its drainTimeout ran out).
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxSurge int32 `json:"maxSurge,omitempty"`
}

// DefaultMaxSurge is maxSurge's default.
const DefaultMaxSurge = 1

// RegionStatus is what the operator observed of the Region's shards.
type RegionStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// shards is the number of RoomShards, draining ones included.
	Shards int32 `json:"shards"`
	// readyShards is the number of shards whose game server is Ready (or Allocated) and not draining.
	ReadyShards int32 `json:"readyShards"`
	// drainingShards is the number of shards waiting for their players to leave.
	DrainingShards int32 `json:"drainingShards"`
	// updatedShards is the number of shards running the current template
	// (or about to start with it), draining ones included.
	UpdatedShards int32 `json:"updatedShards"`
	// outdatedShards is the number of shards whose game server runs an
	// out-of-date template; an upgrade replaces them (condition UpToDate).
	OutdatedShards int32 `json:"outdatedShards"`
	// templateHash identifies the current template of the shards' game
	// servers; each GameServer carries the one it was made from in the
	// label gamehall.dev/template-hash.
	// +optional
	TemplateHash string `json:"templateHash,omitempty"`
	// desiredShards is what the scaling policy asks for now.
	DesiredShards int32 `json:"desiredShards"`
	// players is the number of players in all shards, as last reported.
	Players int64 `json:"players"`
	// capacity is the number of seats in ready, non-draining shards.
	Capacity int64 `json:"capacity"`
	// occupancy is players / capacity as a whole percentage (e.g. "73%").
	// +optional
	Occupancy string `json:"occupancy,omitempty"`
	// hall is the Hall whose regionSelector matches this Region: the shards
	// inherit its presence store and ticket keys (condition HallSelected).
	// +optional
	Hall string `json:"hall,omitempty"`
	// selector selects the Region's RoomShards (label selector syntax).
	// +optional
	Selector string `json:"selector,omitempty"`
	// conditions: Ready (all wanted shards ready), HallSelected (one Hall, or
	// Halls that agree, list the Region and give its shards their settings),
	// ScalingLimited (at maxShards with occupancy above target) and UpToDate
	// (every shard runs the current template, or an upgrade is under way).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Region is one zone of a game: a set of room shards that scale with its players.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=region,categories=gamehall
// +kubebuilder:printcolumn:name="Game",type=string,JSONPath=`.spec.game`
// +kubebuilder:printcolumn:name="Shards",type=integer,JSONPath=`.status.shards`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyShards`
// +kubebuilder:printcolumn:name="Up-to-date",type=integer,JSONPath=`.status.updatedShards`,description="Shards running the current template"
// +kubebuilder:printcolumn:name="Players",type=integer,JSONPath=`.status.players`
// +kubebuilder:printcolumn:name="Capacity",type=integer,JSONPath=`.status.capacity`
// +kubebuilder:printcolumn:name="Occupancy",type=string,JSONPath=`.status.occupancy`
// +kubebuilder:printcolumn:name="Hall",type=string,JSONPath=`.status.hall`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Region struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired Region.
	Spec RegionSpec `json:"spec,omitempty"`
	// status is the observed Region.
	Status RegionStatus `json:"status,omitempty"`
}

// RegionList is a list of Regions.
//
// +kubebuilder:object:root=true
type RegionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Region `json:"items"`
}

// DefaultScaleDownDelay is scaleDownDelay's default.
const DefaultScaleDownDelay = 5 * time.Minute

// ScaleDownDelayDuration is scaleDownDelay, or its default when unset (an
// object that did not pass through the API server's defaulting).
func (s ScalingSpec) ScaleDownDelayDuration() time.Duration {
	if s.ScaleDownDelay == nil {
		return DefaultScaleDownDelay
	}
	return s.ScaleDownDelay.Duration
}

// ShardCapacity is the number of seats in one of the Region's shards.
func (r *Region) ShardCapacity() int64 {
	return int64(r.Spec.RoomsPerShard) * int64(r.Spec.RoomCapacity)
}

// Title is the name the hall shows: displayName, or the object's name.
func (r *Region) Title() string {
	if r.Spec.DisplayName != "" {
		return r.Spec.DisplayName
	}
	return r.Name
}

func init() {
	SchemeBuilder.Register(&Region{}, &RegionList{})
}
