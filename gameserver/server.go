// Package gameserver is a game-server shard: rooms of players on one
// connection each (TCP or WebSocket, framed protobuf from package protocol),
// Dou Dizhu tables, presence, the occupancy stream for halls, metrics and the
// Agones lifecycle. See docs/protocol.md.
package gameserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// ServerVersion is reported in Welcome.
const ServerVersion = "gamehall-gameserver/1"

// player is an account on this shard. It outlives its connection during a
// reconnect grace.
type player struct {
	account string
	session string // guarded by Server.mu
	conn    atomic.Pointer[conn]
	room    atomic.Pointer[Room]
	idx     int    // position in room.members (room.mu)
	table   *table // room.mu
	seat    int    // room.mu

	graceGen   uint64 // Server.mu
	graceTimer *time.Timer
}

// Server is one shard.
type Server struct {
	cfg     Config
	deps    Deps
	log     logr.Logger
	rooms   []*Room
	occ     *occupancy
	metrics *metrics
	epoch   string
	settler *settler // nil without a store

	mu      sync.Mutex
	players map[string]*player
	conns   map[*conn]struct{}
	raw     map[net.Conn]struct{}
	closing bool

	inRooms   atomic.Int64 // players in a room, all rooms
	draining  atomic.Bool
	drainCh   chan struct{}
	drainOnce sync.Once
	changed   chan struct{} // nudges the lifecycle loop (players, games)

	ln, iln   net.Listener
	ihttp     *http.Server
	wsConns   chan net.Conn
	stopped   chan struct{}  // closed when Run shuts down
	wg        sync.WaitGroup // connection goroutines
	listening atomic.Bool
}

// New checks cfg and builds a shard; Listen binds it.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("gameserver: bad config: %w", err)
	}
	if deps.Verifier == nil {
		return nil, errors.New("gameserver: a ticket verifier is required")
	}
	if deps.Presence == nil {
		return nil, errors.New("gameserver: a presence store is required")
	}
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	s := &Server{
		cfg:     cfg,
		deps:    deps,
		log:     deps.Logger.WithValues("shard", cfg.Shard),
		epoch:   fmt.Sprintf("%d-%s", time.Now().Unix(), hex.EncodeToString(rb[:])),
		players: map[string]*player{},
		conns:   map[*conn]struct{}{},
		raw:     map[net.Conn]struct{}{},
		drainCh: make(chan struct{}),
		changed: make(chan struct{}, 1),
		wsConns: make(chan net.Conn),
		stopped: make(chan struct{}),
	}
	s.occ = newOccupancy(cfg.Rooms, cfg.RoomCapacity)
	s.rooms = make([]*Room, cfg.Rooms)
	for i := range s.rooms {
		s.rooms[i] = newRoom(s, i)
	}
	s.metrics = newMetrics(s)
	if deps.Store != nil {
		s.settler = newSettler(s, deps.Store)
	}
	return s, nil
}

// Config returns the effective configuration (defaults filled in).
func (s *Server) Config() Config { return s.cfg }

// Epoch identifies this process's life; halls see a restart as a new epoch.
func (s *Server) Epoch() string { return s.epoch }

// Listen binds the players' and the internal ports.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("gameserver: players' port %s: %w", s.cfg.Addr, err)
	}
	iln, err := net.Listen("tcp", s.cfg.InternalAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("gameserver: internal port %s: %w", s.cfg.InternalAddr, err)
	}
	s.ln, s.iln = ln, iln
	s.listening.Store(true)
	return nil
}

// Addr is the bound players' address (after Listen).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// InternalAddr is the bound internal address (after Listen).
func (s *Server) InternalAddr() net.Addr { return s.iln.Addr() }

// Serve is Listen and Run.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	return s.Run(ctx)
}

// Run serves until ctx ends (everyone is disconnected at once) or, after
// Drain, until the shard is empty or the drain timeout passes.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		return errors.New("gameserver: Run before Listen")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.ihttp = &http.Server{Handler: s.internalHandler(), ReadHeaderTimeout: 10 * time.Second}
	var bg sync.WaitGroup
	bg.Go(func() { _ = s.ihttp.Serve(s.iln) })
	bg.Go(func() { s.acceptLoop() })
	bg.Go(func() { s.serveWebSockets() })
	// Subscribe before accepting anyone, so no kick can slip past.
	kicks, err := s.deps.Presence.Kicks(ctx)
	if err != nil {
		s.log.Error(err, "presence kicks unavailable; retrying in the background")
	}
	bg.Go(func() { s.kickLoop(ctx, kicks) })
	bg.Go(func() { s.touchLoop(ctx) })
	bg.Go(func() { s.lifecycle(ctx) })
	if s.settler != nil {
		s.settler.start()
	}
	s.log.Info("shard listening", "addr", s.ln.Addr().String(), "internal", s.iln.Addr().String(),
		"rooms", fmt.Sprintf("%d-%d", s.cfg.FirstRoom, s.cfg.FirstRoom+s.cfg.Rooms-1), "epoch", s.epoch)

	drainCh := s.drainCh
	var drainDeadline <-chan time.Time
	check := time.NewTicker(250 * time.Millisecond)
	defer check.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-drainCh:
			drainCh = nil
			t := time.NewTimer(s.cfg.DrainTimeout)
			defer t.Stop()
			drainDeadline = t.C
		case <-drainDeadline:
			s.log.Info("drain timeout reached; closing with players left", "players", s.inRooms.Load())
			done = true
		case <-check.C:
			if s.draining.Load() && s.inRooms.Load() == 0 {
				s.log.Info("drained and empty")
				done = true
			}
		}
	}
	s.shutdown()
	cancel()
	bg.Wait()
	s.wg.Wait()
	if s.settler != nil {
		s.settler.close(s.cfg.SettleDrainTimeout)
	}
	if s.deps.SDK != nil && s.draining.Load() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.deps.SDK.Shutdown(sctx); err != nil {
			s.log.Error(err, "agones shutdown failed")
		}
		scancel()
	}
	return nil
}

func (s *Server) shutdown() {
	s.mu.Lock()
	s.closing = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	for nc := range s.raw { // still in the first bytes; no protocol yet
		nc.Close()
	}
	s.mu.Unlock()
	close(s.stopped)
	s.ln.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = s.ihttp.Shutdown(sctx)
	cancel()
	s.ihttp.Close()
	for _, c := range conns {
		c.kick("server shutting down")
	}
	// Release the seats of players in reconnect grace too.
	s.mu.Lock()
	var orphans []*player
	for _, p := range s.players {
		if p.conn.Load() == nil {
			orphans = append(orphans, p)
		}
	}
	s.mu.Unlock()
	for _, p := range orphans {
		s.graceExpired(p, 0, true)
	}
}

// Drain stops new room entries; Run returns once the shard is empty or the
// drain timeout passes. Running games go on.
func (s *Server) Drain() {
	s.drainOnce.Do(func() {
		s.draining.Store(true)
		s.occ.setDraining(true)
		s.log.Info("draining: new room entries are refused")
		close(s.drainCh)
		s.nudge()
	})
}

// Draining reports whether Drain was called.
func (s *Server) Draining() bool { return s.draining.Load() }

// RoomStat is one room's occupancy.
type RoomStat struct {
	Room, Players, Capacity int
}

// Stats is a point-in-time view of the shard.
type Stats struct {
	Shard    string
	Epoch    string
	Draining bool
	Players  int
	Rooms    []RoomStat
}

// Stats reports players per room.
func (s *Server) Stats() Stats {
	st := Stats{Shard: s.cfg.Shard, Epoch: s.epoch, Draining: s.draining.Load()}
	for _, r := range s.rooms {
		n := r.count()
		st.Players += n
		st.Rooms = append(st.Rooms, RoomStat{Room: int(r.num), Players: n, Capacity: r.cap})
	}
	return st
}

func (s *Server) nudge() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *Server) playerCountChanged(delta int) {
	s.inRooms.Add(int64(delta))
	s.nudge()
}

func (s *Server) gameEnded() { s.nudge() }

func (s *Server) room(num int32) *Room {
	i := int(num) - s.cfg.FirstRoom
	if i < 0 || i >= len(s.rooms) {
		return nil
	}
	return s.rooms[i]
}
