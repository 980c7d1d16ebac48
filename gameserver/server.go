// Package gameserver is a game-server shard: rooms of players on one
// connection each (TCP or WebSocket, framed protobuf from package protocol),
// Dou Dizhu tables, presence, the occupancy stream for halls, metrics and the
// Agones lifecycle. See docs/protocol.md.
package gameserver

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/gamehall/gamehall/internal/httpserver"
	"github.com/gamehall/gamehall/presence"
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
	leaves  map[string]presence.RoomKey // room leaves presence still owes (account → where)
	closing bool
	refresh chan struct{}              // asks the presence heartbeat for a round now
	stripes [accountStripes]sync.Mutex // see accountLock

	inRooms   atomic.Int64 // players in a room, all rooms
	entering  atomic.Int64 // room entries in progress (see admit)
	drainMu   sync.Mutex
	drain     drainState
	draining  atomic.Bool   // drain.draining(), for the hot paths
	drainWake chan struct{} // the drain state changed
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
		cfg:       cfg,
		deps:      deps,
		log:       deps.Logger.WithValues("shard", cfg.Shard),
		epoch:     fmt.Sprintf("%d-%s", time.Now().Unix(), hex.EncodeToString(rb[:])),
		players:   map[string]*player{},
		conns:     map[*conn]struct{}{},
		raw:       map[net.Conn]struct{}{},
		leaves:    map[string]presence.RoomKey{},
		refresh:   make(chan struct{}, 1),
		drainWake: make(chan struct{}, 1),
		changed:   make(chan struct{}, 1),
		wsConns:   make(chan net.Conn),
		stopped:   make(chan struct{}),
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
	if s.cfg.TLS != nil {
		// The handshake runs on the first read, inside the Hello bound.
		ln = tls.NewListener(ln, s.cfg.TLS)
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

// Run serves until ctx ends (everyone is disconnected at once) or, while it
// drains (Drain, SetDrain), until the shard is empty or the drain deadline
// passes (see drain.go).
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		return errors.New("gameserver: Run before Listen")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.ihttp = httpserver.New(s.internalHandler())
	var bg sync.WaitGroup
	bg.Go(func() { _ = s.ihttp.Serve(s.iln) })
	// Alive in presence before anyone enters: an entry of a shard that has
	// not beaten yet looks like a dead shard's to the others, and the same
	// session could enter a second room. Presence down: entries are refused
	// anyway, and aliveLoop reports it and retries soon.
	_, beatErr := s.beatOnce(ctx)
	bg.Go(func() { s.acceptLoop() })
	bg.Go(func() { s.serveWebSockets() })
	// Subscribe before accepting anyone, so no kick can slip past.
	kicks, err := s.deps.Presence.Kicks(ctx)
	if err != nil {
		s.log.Error(err, "presence kicks unavailable; retrying in the background")
	}
	bg.Go(func() { s.kickLoop(ctx, kicks) })
	bg.Go(func() { s.heartbeatLoop(ctx) })
	bg.Go(func() { s.aliveLoop(ctx, beatErr) })
	bg.Go(func() { s.lifecycle(ctx) })
	if s.settler != nil {
		s.settler.start()
	}
	s.log.Info("shard listening", "addr", s.ln.Addr().String(), "internal", s.iln.Addr().String(),
		"rooms", fmt.Sprintf("%d-%d", s.cfg.FirstRoom, s.cfg.FirstRoom+s.cfg.Rooms-1), "epoch", s.epoch)

	empty, stopped := s.waitDrained(ctx.Done())
	kick := kickShutdown
	switch {
	case stopped:
	case empty:
		s.log.Info("drained and empty")
	default:
		s.log.Info("drain deadline reached; closing with players left", "players", s.inRooms.Load())
		kick = kickDrainTimeout
	}
	s.shutdown(kick)
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

func (s *Server) shutdown(kick kickReason) {
	if n := s.inRooms.Load(); n > 0 {
		s.metrics.cutOff.Add(float64(n))
	}
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
		c.kick(kick)
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

// RoomStat is one room's occupancy.
type RoomStat struct {
	Room, Players, Capacity int
}

// Stats is a point-in-time view of the shard.
type Stats struct {
	Shard    string
	Epoch    string
	Draining bool
	Players  int // in rooms, seats held for a reconnect included
	Sessions int // accounts the shard holds: connected, or in a reconnect grace
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
	s.mu.Lock()
	st.Sessions = len(s.players)
	s.mu.Unlock()
	return st
}

// PlayerStat is one account the shard holds.
type PlayerStat struct {
	Account   string
	Session   string // the login session the shard holds it for
	Connected bool   // false: in its reconnect grace
	Room      int32  // 0: in no room
	Table     int32  // -1: not seated
	Seat      int32
	Playing   bool // its table has a game running
}

// PlayerStats lists every account the shard holds (GET /v1/stats?players=1),
// so that a checker outside can tell one account in two places.
func (s *Server) PlayerStats() []PlayerStat {
	s.mu.Lock()
	ps := make([]*player, 0, len(s.players))
	sessions := make([]string, 0, len(s.players))
	for _, p := range s.players {
		ps = append(ps, p)
		sessions = append(sessions, p.session)
	}
	s.mu.Unlock()
	out := make([]PlayerStat, 0, len(ps))
	for i, p := range ps {
		st := PlayerStat{Account: p.account, Session: sessions[i], Connected: p.conn.Load() != nil, Table: -1, Seat: -1}
		if r := p.room.Load(); r != nil {
			r.mu.Lock()
			if p.room.Load() == r {
				st.Room = r.num
				if t := p.table; t != nil {
					st.Table, st.Seat, st.Playing = t.num, int32(p.seat), t.game != nil
				}
			}
			r.mu.Unlock()
		}
		out = append(out, st)
	}
	return out
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
