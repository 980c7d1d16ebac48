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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/protocol"
	"github.com/gamehall/gamehall/protocol/pb"
	"github.com/gamehall/gamehall/ticket"
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

func (s *Server) acceptLoop() {
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Error(err, "accept failed")
			time.Sleep(100 * time.Millisecond) // e.g. out of file descriptors
			continue
		}
		delay = 0
		s.wg.Go(func() { s.serveSocket(c) })
	}
}

// serveSocket tells WebSocket upgrades from framed TCP by the first four
// bytes: "GET " read as a length is far above any frame size.
func (s *Server) serveSocket(nc net.Conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.raw[nc] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.raw, nc)
		s.mu.Unlock()
	}()
	_ = nc.SetReadDeadline(time.Now().Add(s.cfg.HelloTimeout))
	var hdr [protocol.HeaderSize]byte
	n, err := readFull(nc, hdr[:])
	if err != nil {
		nc.Close()
		return
	}
	if string(hdr[:n]) == "GET " {
		pc := &prefixConn{Conn: nc, prefix: append([]byte(nil), hdr[:n]...), closed: make(chan struct{})}
		select {
		case s.wsConns <- pc:
			<-pc.closed // keeps the WebSocket's life inside s.wg
		case <-s.stopped:
			nc.Close()
		case <-time.After(s.cfg.HelloTimeout):
			nc.Close()
		}
		return
	}
	tr := &tcpTransport{c: &prefixConn{Conn: nc, prefix: append([]byte(nil), hdr[:n]...)}}
	s.runConn(newConn(s, tr))
}

// runConn runs a connection's reader on this goroutine and its writer on
// another; both end before runConn returns, so no goroutine outlives it.
func (s *Server) runConn(c *conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.tr.close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.metrics.connections.Inc()
	var w sync.WaitGroup
	w.Go(c.writeLoop)
	c.readLoop()
	// Give a kick notice its chance to flush, then make sure the writer ends.
	select {
	case <-c.done:
	case <-time.After(s.cfg.WriteTimeout):
		c.close("reader ended")
	}
	c.close("reader ended")
	w.Wait()
	s.metrics.connections.Dec()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.disconnected(c)
}

// hello authenticates the first message. It returns false to close.
func (s *Server) hello(c *conn, env *pb.Envelope) bool {
	h := env.GetHello()
	if h == nil {
		c.sendError(env.Seq, pb.ErrorCode_NOT_AUTHENTICATED, "send Hello with your ticket first")
		return false
	}
	if !strings.HasPrefix(h.ClientVersion, protocol.Version) {
		c.sendError(env.Seq, pb.ErrorCode_UNSUPPORTED_VERSION, fmt.Sprintf("client version %q is not supported; this server speaks %s", h.ClientVersion, protocol.Version))
		return false
	}
	claims, err := s.deps.Verifier.Verify(h.Ticket)
	switch {
	case errors.Is(err, ticket.ErrExpired):
		c.sendError(env.Seq, pb.ErrorCode_TICKET_EXPIRED, "ticket expired; log in again")
		return false
	case err != nil:
		c.sendError(env.Seq, pb.ErrorCode_TICKET_INVALID, "ticket rejected: "+err.Error())
		return false
	case claims.Role != ticket.RolePlayer:
		c.sendError(env.Seq, pb.ErrorCode_TICKET_INVALID, fmt.Sprintf("a %q ticket cannot play", claims.Role))
		return false
	case claims.Account == "":
		c.sendError(env.Seq, pb.ErrorCode_TICKET_INVALID, "ticket names no account")
		return false
	}

	// A player in this shard's rooms (connected, or in reconnect grace)
	// resumes; presence must accept the new session for the same room.
	s.mu.Lock()
	p := s.players[claims.Account]
	var where *Room
	if p != nil {
		where = p.room.Load()
	}
	s.mu.Unlock()
	if where != nil {
		if code, msg := s.presenceEnter(claims.Account, claims.Session, where); code != 0 {
			c.sendError(env.Seq, code, msg)
			return false
		}
	}

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.sendError(env.Seq, pb.ErrorCode_DRAINING, "server shutting down; pick a room from the hall")
		return false
	}
	p = s.players[claims.Account]
	if p == nil {
		p = &player{account: claims.Account, seat: -1}
		s.players[claims.Account] = p
	}
	if old := p.conn.Load(); old != nil {
		reason := "connection replaced"
		if p.session != claims.Session {
			reason = "logged in elsewhere"
		}
		old.kick(reason)
	}
	p.session = claims.Session
	p.graceGen++
	if p.graceTimer != nil {
		p.graceTimer.Stop()
		p.graceTimer = nil
	}
	c.p = p
	r := p.room.Load()
	if r == nil {
		p.conn.Store(c)
		s.mu.Unlock()
		c.sendMsg(env.Seq, &pb.Envelope{Msg: &pb.Envelope_Welcome{Welcome: s.welcome(p, false, 0)}})
		return true
	}
	r.mu.Lock()
	p.conn.Store(c)
	s.mu.Unlock()
	c.sendMsg(env.Seq, &pb.Envelope{Msg: &pb.Envelope_Welcome{Welcome: s.welcome(p, true, r.num)}})
	c.sendMsg(0, &pb.Envelope{Msg: &pb.Envelope_RoomState{RoomState: r.stateLocked(p)}})
	if t := p.table; t != nil {
		r.eventLocked(&pb.RoomEvent{Kind: pb.RoomEventKind_RECONNECT, Account: p.account, Table: t.num, Seat: int32(p.seat)})
		c.sendMsg(0, &pb.Envelope{Msg: &pb.Envelope_TableState{TableState: t.stateLocked(p)}})
		if t.game != nil && t.game.Turn() == p.seat {
			t.scheduleLocked() // the full turn time again, now that someone is there
		}
	}
	r.mu.Unlock()
	s.metrics.reconnects.Inc()
	return true
}

func (s *Server) welcome(p *player, resumed bool, room int32) *pb.Welcome {
	return &pb.Welcome{Account: p.account, Shard: s.cfg.Shard, ServerVersion: ServerVersion,
		PingIntervalMs: uint32(s.cfg.PingInterval / time.Millisecond), MaxFrame: uint32(s.cfg.MaxFrame),
		Resumed: resumed, Room: room}
}

// presenceEnter records the room in presence and maps its errors to codes.
func (s *Server) presenceEnter(account, session string, r *Room) (pb.ErrorCode, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.deps.Presence.EnterRoom(ctx, account, session, s.cfg.Game, presence.RoomKey{Shard: s.cfg.Shard, Room: int(r.num)}, s.cfg.PresenceTTL)
	switch {
	case err == nil:
		return 0, ""
	case errors.Is(err, presence.ErrInOtherRoom):
		return pb.ErrorCode_IN_OTHER_ROOM, "you are already in another room of this game; leave it first"
	case errors.Is(err, presence.ErrSessionSuperseded):
		return pb.ErrorCode_SESSION_SUPERSEDED, "this session was superseded by a newer login"
	default:
		s.log.Error(err, "presence enter failed", "account", account)
		return pb.ErrorCode_UNAVAILABLE, "presence is unavailable; try again"
	}
}

func (s *Server) presenceLeave(account string, r *Room) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.deps.Presence.LeaveRoom(ctx, account, s.cfg.Game, presence.RoomKey{Shard: s.cfg.Shard, Room: int(r.num)}); err != nil {
		s.log.Error(err, "presence leave failed", "account", account)
	}
}

// disconnected runs when a connection's goroutines have ended. A player in a
// running game keeps the seat for the reconnect grace; anyone else leaves.
func (s *Server) disconnected(c *conn) {
	p := c.p
	if p == nil {
		return
	}
	s.mu.Lock()
	if p.conn.Load() != c {
		s.mu.Unlock()
		return // a newer connection took over
	}
	r := p.room.Load()
	if r == nil {
		p.conn.Store(nil)
		delete(s.players, p.account)
		s.mu.Unlock()
		return
	}
	r.mu.Lock()
	p.conn.Store(nil)
	if t := p.table; t != nil && t.game != nil && s.closing {
		t.endLocked() // shutting down: the game cannot finish
	}
	if t := p.table; t != nil && t.game != nil {
		p.graceGen++
		gen := p.graceGen
		p.graceTimer = time.AfterFunc(s.cfg.ReconnectGrace, func() { s.graceExpired(p, gen, false) })
		r.eventLocked(&pb.RoomEvent{Kind: pb.RoomEventKind_DISCONNECT, Account: p.account, Table: t.num, Seat: int32(p.seat)})
		if t.game.Turn() == p.seat {
			t.scheduleLocked()
		}
		r.mu.Unlock()
		s.mu.Unlock()
		return
	}
	r.removeLocked(p)
	r.mu.Unlock()
	delete(s.players, p.account)
	s.mu.Unlock()
	s.presenceLeave(p.account, r)
}

// graceExpired releases a seat whose player did not come back; a game still
// running counts it as an escape. force ignores gen (shutdown).
func (s *Server) graceExpired(p *player, gen uint64, force bool) {
	s.mu.Lock()
	if (!force && p.graceGen != gen) || p.conn.Load() != nil || s.players[p.account] != p {
		s.mu.Unlock()
		return
	}
	r := p.room.Load()
	if r != nil {
		r.mu.Lock()
		if t := p.table; t != nil && t.game != nil {
			t.escapeLocked(p.seat)
		}
		r.removeLocked(p)
		r.mu.Unlock()
	}
	delete(s.players, p.account)
	s.mu.Unlock()
	if r != nil {
		s.presenceLeave(p.account, r)
	}
}

// kickLoop disconnects sessions that a newer login superseded.
func (s *Server) kickLoop(ctx context.Context, ch <-chan presence.Kick) {
	for ctx.Err() == nil {
		var err error
		if ch == nil {
			ch, err = s.deps.Presence.Kicks(ctx)
		}
		if err != nil {
			s.log.Error(err, "presence kicks unavailable; retrying")
			select {
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Second):
			}
			continue
		}
		for k := range ch {
			s.mu.Lock()
			p := s.players[k.Account]
			var c *conn
			if p != nil && p.session == k.Session {
				c = p.conn.Load()
			}
			s.mu.Unlock()
			if c != nil {
				reason := k.Reason
				if reason == "" {
					reason = "logged in elsewhere"
				}
				c.kick(reason)
			}
		}
		ch = nil
	}
}

// touchLoop refreshes the presence entries of everyone in a room so they do
// not expire while the player is here.
func (s *Server) touchLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.PresenceTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		type entry struct {
			account string
			room    int32
		}
		var list []entry
		s.mu.Lock()
		for _, p := range s.players {
			if r := p.room.Load(); r != nil {
				list = append(list, entry{p.account, r.num})
			}
		}
		s.mu.Unlock()
		for _, e := range list {
			tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := s.deps.Presence.TouchRoom(tctx, e.account, s.cfg.Game, presence.RoomKey{Shard: s.cfg.Shard, Room: int(e.room)}, s.cfg.PresenceTTL)
			cancel()
			if err != nil && ctx.Err() == nil {
				s.log.V(1).Info("presence touch failed", "account", e.account, "err", err.Error())
			}
		}
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// prefixConn replays bytes already read from the socket.
type prefixConn struct {
	net.Conn
	prefix []byte
	closed chan struct{} // nil, or closed by Close
	once   sync.Once
}

func (c *prefixConn) Close() error {
	err := c.Conn.Close()
	if c.closed != nil {
		c.once.Do(func() { close(c.closed) })
	}
	return err
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
