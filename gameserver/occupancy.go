package gameserver

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gamehall/gamehall/gameserver/roomreport"
	"github.com/gamehall/gamehall/internal/httpserver"
	"github.com/gamehall/gamehall/protocol"
	"github.com/gamehall/gamehall/protocol/pb"
	"github.com/gamehall/gamehall/ticket"
)

// Stream pacing: deltas at most this often, a heartbeat after this much
// silence so a hall notices a dead shard.
const (
	occupancyBatch     = 250 * time.Millisecond
	occupancyHeartbeat = 3 * time.Second
)

// occupancy keeps per-room counts with the version at which each changed, so
// every stream sends exactly the rooms changed since its last frame.
type occupancy struct {
	mu       sync.Mutex
	version  uint64
	players  []int
	changed  []uint64
	capacity int
	draining bool
}

func newOccupancy(rooms, capacity int) *occupancy {
	return &occupancy{players: make([]int, rooms), changed: make([]uint64, rooms), capacity: capacity}
}

func (o *occupancy) set(idx, players int) {
	o.mu.Lock()
	o.version++
	o.players[idx] = players
	o.changed[idx] = o.version
	o.mu.Unlock()
}

func (o *occupancy) setDraining(d bool) {
	o.mu.Lock()
	o.version++
	o.draining = d
	o.mu.Unlock()
}

func (s *Server) occupancySnapshot() (*pb.OccupancySnapshot, uint64) {
	o := s.occ
	o.mu.Lock()
	defer o.mu.Unlock()
	snap := &pb.OccupancySnapshot{Shard: s.cfg.Shard, Epoch: s.epoch, Version: o.version, Draining: o.draining}
	for i, n := range o.players {
		snap.Rooms = append(snap.Rooms, &pb.RoomCount{Room: int32(s.cfg.FirstRoom + i), Players: int32(n), Capacity: int32(o.capacity)})
	}
	return snap, o.version
}

// roomReport is every room's count, as the shard reports it to Agones.
func (s *Server) roomReport() roomreport.Report {
	o := s.occ
	o.mu.Lock()
	defer o.mu.Unlock()
	r := roomreport.Report{FirstRoom: int32(s.cfg.FirstRoom), Capacity: int32(o.capacity), Players: make([]int32, len(o.players))}
	for i, n := range o.players {
		r.Players[i] = int32(n)
	}
	return r
}

// occupancyDelta returns the rooms changed after version since.
func (s *Server) occupancyDelta(since uint64) (*pb.OccupancyDelta, uint64) {
	o := s.occ
	o.mu.Lock()
	defer o.mu.Unlock()
	d := &pb.OccupancyDelta{Version: o.version, Draining: o.draining}
	if o.version == since {
		return d, since
	}
	for i, v := range o.changed {
		if v > since {
			d.Rooms = append(d.Rooms, &pb.RoomCount{Room: int32(s.cfg.FirstRoom + i), Players: int32(o.players[i]), Capacity: int32(o.capacity)})
		}
	}
	return d, o.version
}

// authService accepts a bearer service ticket for aud: 401 without a valid
// ticket, 403 with one for something else.
func (s *Server) authService(w http.ResponseWriter, r *http.Request, aud ticket.Audience) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		http.Error(w, "missing bearer ticket", http.StatusUnauthorized)
		return false
	}
	_, err := s.deps.Verifier.Verify(tok, aud)
	switch {
	case errors.Is(err, ticket.ErrAudience):
		http.Error(w, "ticket refused: "+err.Error(), http.StatusForbidden)
		return false
	case err != nil:
		http.Error(w, "ticket rejected: "+err.Error(), http.StatusUnauthorized)
		return false
	}
	return true
}

// serveOccupancy streams a snapshot, then deltas batched every 250 ms, with
// heartbeats (empty deltas) when nothing changes.
func (s *Server) serveOccupancy(w http.ResponseWriter, r *http.Request) {
	if !s.authService(w, r, ticket.AudShardRead) {
		return
	}
	// A stream: past the server's timeouts; each write has its own deadline.
	_ = httpserver.LongLived(w)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-gamehall-occupancy")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	write := func(f *pb.OccupancyFrame) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if _, err := w.Write(protocol.MustMarshal(f)); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	snap, ver := s.occupancySnapshot()
	if !write(&pb.OccupancyFrame{Msg: &pb.OccupancyFrame_Snapshot{Snapshot: snap}}) {
		return
	}
	tick := time.NewTicker(occupancyBatch)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stopped:
			return
		case now := <-tick.C:
			d, v := s.occupancyDelta(ver)
			if v == ver && now.Sub(last) < occupancyHeartbeat {
				continue
			}
			ver, last = v, now
			if !write(&pb.OccupancyFrame{Msg: &pb.OccupancyFrame_Delta{Delta: d}}) {
				return
			}
		}
	}
}
