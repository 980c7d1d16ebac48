package hall

import "context"

// OccupancyUpdate is one frame of a shard's occupancy stream: a snapshot
// (all rooms; a new Epoch means the shard restarted) or a delta (the rooms
// changed since the previous frame; none for a heartbeat).
type OccupancyUpdate struct {
	Snapshot bool
	Epoch    string
	Version  uint64
	Draining bool
	Rooms    []RoomCount
}

// RoomCount is one room's occupancy.
type RoomCount struct {
	Room, Players, Capacity int
}

// Feed is an open occupancy stream. Recv blocks for the next frame; Close
// ends a blocked Recv.
type Feed interface {
	Recv() (OccupancyUpdate, error)
	Close() error
}

// Dialer opens the occupancy stream of the shard at baseURL (its internal
// HTTP address) with a service ticket.
type Dialer func(ctx context.Context, baseURL, ticket string) (Feed, error)
