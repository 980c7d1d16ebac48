package gameserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/protocol"
	"github.com/gamehall/gamehall/protocol/pb"
	"github.com/gamehall/gamehall/ticket"
)

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
