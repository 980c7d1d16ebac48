package hall

import (
	"context"

	"github.com/gamehall/gamehall/client"
)

// DialShard is the Dialer for real shards: their occupancy stream over
// client.DialOccupancy.
func DialShard(ctx context.Context, baseURL, ticket string) (Feed, error) {
	c, err := client.DialOccupancy(ctx, baseURL, ticket)
	if err != nil {
		return nil, err
	}
	return shardFeed{c}, nil
}

type shardFeed struct{ c *client.OccupancyConn }

func (f shardFeed) Recv() (OccupancyUpdate, error) {
	u, err := f.c.Recv()
	if err != nil {
		return OccupancyUpdate{}, err
	}
	out := OccupancyUpdate{Snapshot: u.Snapshot, Epoch: u.Epoch, Version: u.Version, Draining: u.Draining,
		Rooms: make([]RoomCount, len(u.Rooms))}
	for i, r := range u.Rooms {
		out.Rooms[i] = RoomCount(r)
	}
	return out, nil
}

func (f shardFeed) Close() error { return f.c.Close() }
