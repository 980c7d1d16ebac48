package client

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gamehall/gamehall/protocol"
	"github.com/gamehall/gamehall/protocol/pb"
)

// RoomCount is one room's occupancy.
type RoomCount struct {
	Room, Players, Capacity int
}

// OccupancyUpdate is one frame of a shard's occupancy stream: the snapshot
// first (Snapshot true, every room, Epoch set), then deltas listing only the
// rooms that changed. A delta with no rooms is a heartbeat.
type OccupancyUpdate struct {
	Snapshot bool
	Shard    string // snapshot only
	Epoch    string // snapshot only; a new epoch means the shard restarted
	Version  uint64
	Draining bool
	Rooms    []RoomCount
}

// OccupancyConn follows a shard's occupancy stream.
type OccupancyConn struct {
	body   io.ReadCloser
	r      *bufio.Reader
	cancel context.CancelFunc
}

// DialOccupancy opens GET <baseURL>/v1/occupancy on a shard's internal port
// with a service ticket. The stream lives until ctx ends or Close.
func DialOccupancy(ctx context.Context, baseURL string, ticket string) (*OccupancyConn, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+"/v1/occupancy", nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+ticket)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("gamehall: occupancy stream: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return &OccupancyConn{body: resp.Body, r: bufio.NewReader(resp.Body), cancel: cancel}, nil
}

// Recv blocks for the next update.
func (o *OccupancyConn) Recv() (OccupancyUpdate, error) {
	p, err := protocol.ReadFrame(o.r, protocol.DefaultMaxFrame)
	if err != nil {
		return OccupancyUpdate{}, err
	}
	f, err := protocol.DecodeOccupancy(p)
	if err != nil {
		return OccupancyUpdate{}, err
	}
	var u OccupancyUpdate
	var rooms []*pb.RoomCount
	switch m := f.Msg.(type) {
	case *pb.OccupancyFrame_Snapshot:
		s := m.Snapshot
		u = OccupancyUpdate{Snapshot: true, Shard: s.Shard, Epoch: s.Epoch, Version: s.Version, Draining: s.Draining}
		rooms = s.Rooms
	case *pb.OccupancyFrame_Delta:
		d := m.Delta
		u = OccupancyUpdate{Version: d.Version, Draining: d.Draining}
		rooms = d.Rooms
	}
	for _, r := range rooms {
		u.Rooms = append(u.Rooms, RoomCount{Room: int(r.Room), Players: int(r.Players), Capacity: int(r.Capacity)})
	}
	return u, nil
}

// Close ends the stream.
func (o *OccupancyConn) Close() error {
	o.cancel()
	return o.body.Close()
}
