package v1alpha1

// Condition types. Every kind has Ready, the summary a person looks at first.
const (
	// ConditionReady summarises the object: True when it serves players as asked.
	ConditionReady = "Ready"
	// ConditionScalingLimited (Region) is True when the Region is at maxShards
	// and its occupancy is above the target: more players will find rooms full.
	ConditionScalingLimited = "ScalingLimited"
	// ConditionHallSelected (Region) is True when a Hall lists the Region
	// and so gives its shards their presence store and ticket keys. False:
	// no Hall, or Halls with different settings, select it; no new shards
	// start until that is fixed (running ones are left alone).
	ConditionHallSelected = "HallSelected"
	// ConditionDraining (RoomShard) is True while the shard takes no new players
	// and waits for the ones it has to leave.
	ConditionDraining = "Draining"
	// ConditionAddressResolved (Hall) is True when the operator knows the
	// address clients reach the halls at (status.endpoint), which the hall
	// pods name in login answers and redirects.
	ConditionAddressResolved = "AddressResolved"
	// ConditionRoomsReported (RoomShard) is True while status.roomList holds
	// a valid report of the game server's rooms.
	ConditionRoomsReported = "RoomsReported"
	// ConditionUpToDate (Region) is True when every shard runs the current
	// template; False while an upgrade replaces outdated shards.
	ConditionUpToDate = "UpToDate"
)

// Condition reasons: CamelCase constants, so alerts and scripts can match them.
const (
	// Region
	ReasonShardsReady        = "ShardsReady"
	ReasonShardsNotReady     = "ShardsNotReady"
	ReasonNoShards           = "NoShards"
	ReasonAtMaxShards        = "AtMaxShards"
	ReasonWithinLimits       = "WithinLimits"
	ReasonInvalidPodTemplate = "InvalidPodTemplate"
	ReasonSelectedByHall     = "SelectedByHall"
	// ReasonNoHall and ReasonConflictingHalls are also a RoomShard's Ready
	// reason while it cannot start a GameServer for the same cause.
	ReasonNoHall           = "NoHall"
	ReasonConflictingHalls = "ConflictingHalls"
	ReasonShardsUpToDate   = "ShardsUpToDate"
	ReasonRollingUpdate    = "RollingUpdate"
	// ReasonTemplateUnknown: without a Hall's settings the current template
	// is not known; no shard counts as outdated meanwhile.
	ReasonTemplateUnknown = "TemplateUnknown"

	// RoomShard
	ReasonGameServerReady   = "GameServerReady"
	ReasonGameServerPending = "GameServerPending"
	ReasonGameServerFailed  = "GameServerFailed"
	ReasonDrainRequested    = "DrainRequested"   // asked to drain; the game server has not confirmed yet
	ReasonDrainConfirmed    = "DrainConfirmed"   // the game server refuses new players and shuts down once empty
	ReasonUndrainRequested  = "UndrainRequested" // un-drained; the game server still refuses players until it sees it
	ReasonNotDraining       = "NotDraining"
	ReasonDrained           = "Drained"
	ReasonRoomsReported     = "RoomsReported"
	ReasonNoRoomReport      = "NoRoomReport"
	ReasonInvalidRoomReport = "InvalidRoomReport"

	// Hall
	ReasonDeploymentAvailable   = "DeploymentAvailable"
	ReasonDeploymentProgressing = "DeploymentProgressing"
	ReasonDeploymentUnavailable = "DeploymentUnavailable"
	ReasonExternalURL           = "ExternalURL"
	ReasonLoadBalancerIngress   = "LoadBalancerIngress"
	ReasonLoadBalancerPending   = "LoadBalancerPending"
	ReasonClusterDNS            = "ClusterDNS"
	ReasonNeedsExternalURL      = "NeedsExternalURL"

	// ReasonObjectNotOwned (Hall and RoomShard Ready): an object of the name
	// a child would take exists and is not controlled by this owner; the
	// operator does not adopt it (the message names it).
	ReasonObjectNotOwned = "ObjectNotOwned"
)

// Labels and annotations shared by the operator, the game server and the hall.
const (
	// LabelRegion names the Region a RoomShard or GameServer belongs to.
	LabelRegion = "gamehall.dev/region"
	// LabelShardIndex is the shard's index within its Region.
	LabelShardIndex = "gamehall.dev/shard-index"
	// LabelRoomShard names the RoomShard that owns a GameServer.
	LabelRoomShard = "gamehall.dev/roomshard"
	// LabelDraining is set to "true" on a GameServer whose shard drains; the
	// game server watches it through the Agones SDK.
	LabelDraining = "gamehall.dev/draining"
	// AnnotationDrainDeadline (GameServer, written by the operator with
	// LabelDraining) is when a draining game server gives up on its last
	// players (RFC 3339): the Region's drainTimeout after the drain started.
	// Absent: the game server waits for its last player, however long.
	AnnotationDrainDeadline = "gamehall.dev/drain-deadline"
	// LabelDrainConfirmed is the game server's answer to LabelDraining, set
	// through the Agones SDK (PUT /metadata/label, key "draining", which
	// Agones prefixes): "true" once it refuses new players and has reported
	// its exact player count; "false" once an un-drain reopened it. The
	// RoomShard's Draining condition mirrors it.
	LabelDrainConfirmed = "agones.dev/sdk-draining"
	// LabelTemplateHash (GameServer) identifies the template it was made
	// from: the Region's pod template with the operator's default image,
	// the Hall's presence store and keys, and the Region's database.
	LabelTemplateHash = "gamehall.dev/template-hash"
	// LabelHall names the Hall that owns a Deployment, Service or pod.
	LabelHall = "gamehall.dev/hall"
)

// Games known to this version. The Region's game enum grows with this list.
const (
	GameDouDizhu = "doudizhu"
)
