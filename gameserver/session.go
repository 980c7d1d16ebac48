package gameserver

import (
	"errors"
	"fmt"
	"strings"
	"time"

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
	claims, err := s.deps.Verifier.Verify(h.Ticket, ticket.AudPlayer)
	switch {
	case errors.Is(err, ticket.ErrExpired):
		c.sendError(env.Seq, pb.ErrorCode_TICKET_EXPIRED, "ticket expired; log in again")
		return false
	case errors.Is(err, ticket.ErrAudience):
		c.sendError(env.Seq, pb.ErrorCode_TICKET_INVALID, "only a player's ticket can play: "+err.Error())
		return false
	case err != nil:
		c.sendError(env.Seq, pb.ErrorCode_TICKET_INVALID, "ticket rejected: "+err.Error())
		return false
	case claims.Account == "":
		c.sendError(env.Seq, pb.ErrorCode_TICKET_INVALID, "ticket names no account")
		return false
	}

	// A player in this shard's rooms (connected, or in reconnect grace)
	// resumes. With the session the shard holds, that needs nobody's word
	// (presence may be down: it is a cache of what the shards hold); a newer
	// session must be the live one, which presence alone knows.
	s.mu.Lock()
	p := s.players[claims.Account]
	var where *Room
	if p != nil && p.session != claims.Session {
		where = p.room.Load()
	}
	s.mu.Unlock()
	if where != nil {
		mu := s.accountLock(claims.Account)
		mu.Lock()
		code, msg := s.presenceEnter(claims.Account, claims.Session, where)
		mu.Unlock()
		if code != 0 {
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
		why := kickReplaced
		if p.session != claims.Session {
			why = kickSuperseded
		}
		old.kick(why)
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
	} else {
		r.mu.Lock()
		p.conn.Store(c)
		s.mu.Unlock()
		c.sendMsg(env.Seq, &pb.Envelope{Msg: &pb.Envelope_Welcome{Welcome: s.welcome(p, true, r.num)}})
		c.sendMsg(0, &pb.Envelope{Msg: &pb.Envelope_RoomState{RoomState: r.stateLocked(p)}})
		if t := p.table; t != nil {
			r.eventLocked(&pb.RoomEvent{Kind: pb.RoomEventKind_RECONNECT, Account: p.account, Table: t.num, Seat: int32(p.seat)})
			c.sendMsg(0, &pb.Envelope{Msg: &pb.Envelope_TableState{TableState: t.stateLocked(p)}})
			if t.game != nil && t.game.Turn() == p.seat {
				t.armLocked() // what is left of the turn, now that someone is there
			}
		}
		r.mu.Unlock()
		s.metrics.reconnects.Inc()
	}
	if where == nil {
		// Registered first, checked second: a login that supersedes this
		// session either came before the check (seen here) or its kick
		// comes after the registration (kickLoop finds the player).
		s.checkLive(c, claims.Account, claims.Session)
	}
	return true
}

func (s *Server) welcome(p *player, resumed bool, room int32) *pb.Welcome {
	return &pb.Welcome{Account: p.account, Shard: s.cfg.Shard, ServerVersion: ServerVersion,
		PingIntervalMs: uint32(s.cfg.PingInterval / time.Millisecond), MaxFrame: uint32(s.cfg.MaxFrame),
		Resumed: resumed, Room: room}
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
			t.armLocked() // a short think for the absent seat, within the turn
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
