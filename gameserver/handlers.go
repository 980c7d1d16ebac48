package gameserver

import (
	"time"
	"unicode/utf8"

	"github.com/gamehall/gamehall/protocol"
	"github.com/gamehall/gamehall/protocol/pb"
)

// handle runs one request of an authenticated connection, on its reader
// goroutine (so a player's requests are processed in order).
func (s *Server) handle(c *conn, env *pb.Envelope) {
	p, seq := c.p, env.Seq
	switch m := env.Msg.(type) {
	case *pb.Envelope_Ping:
		c.sendMsg(seq, &pb.Envelope{Msg: &pb.Envelope_Pong{Pong: &pb.Pong{
			ClientTimeUnixNano: m.Ping.ClientTimeUnixNano, ServerTimeUnixNano: time.Now().UnixNano()}}})
	case *pb.Envelope_EnterRoom:
		s.enterRoom(c, seq, m.EnterRoom.Room)
	case *pb.Envelope_LeaveRoom:
		s.leaveRoom(c, seq)
	case *pb.Envelope_SitDown:
		s.inRoom(c, seq, func(r *Room) {
			if p.table != nil {
				c.sendError(seq, pb.ErrorCode_ALREADY_SEATED, "stand up first")
				return
			}
			ti := int(m.SitDown.Table)
			if ti < 0 || ti >= len(r.tables) {
				c.sendError(seq, pb.ErrorCode_NO_SUCH_SEAT, "no such table")
				return
			}
			if code := r.tables[ti].sitLocked(p, int(m.SitDown.Seat)); code != 0 {
				c.sendError(seq, code, "cannot sit there")
				return
			}
			c.sendMsg(seq, &pb.Envelope{Msg: &pb.Envelope_TableState{TableState: p.table.stateLocked(p)}})
		})
	case *pb.Envelope_QuickSeat:
		s.inRoom(c, seq, func(r *Room) {
			if p.table != nil {
				c.sendError(seq, pb.ErrorCode_ALREADY_SEATED, "stand up first")
				return
			}
			t := quickTable(r)
			if t == nil {
				c.sendError(seq, pb.ErrorCode_NO_FREE_SEAT, "every table of this room is full")
				return
			}
			for i := range t.seats {
				if t.seats[i] == nil {
					t.sitLocked(p, i)
					break
				}
			}
			c.sendMsg(seq, &pb.Envelope{Msg: &pb.Envelope_TableState{TableState: t.stateLocked(p)}})
		})
	case *pb.Envelope_StandUp:
		s.seated(c, seq, func(r *Room, t *table) {
			if t.game != nil {
				c.sendError(seq, pb.ErrorCode_GAME_IN_PROGRESS, "the game is running; leaving the room now counts as an escape")
				return
			}
			t.standLocked(p)
			c.sendOK(seq)
		})
	case *pb.Envelope_Ready:
		s.seated(c, seq, func(r *Room, t *table) {
			if t.game != nil {
				c.sendError(seq, pb.ErrorCode_GAME_IN_PROGRESS, "a game is already running")
				return
			}
			if s.settler != nil && s.settler.full() {
				c.sendError(seq, pb.ErrorCode_UNAVAILABLE, "results cannot be saved right now (the database is unreachable); new games start again once it is back")
				return
			}
			c.sendOK(seq)
			t.readyLocked(p)
		})
	case *pb.Envelope_GetTable:
		s.seated(c, seq, func(r *Room, t *table) {
			c.sendMsg(seq, &pb.Envelope{Msg: &pb.Envelope_TableState{TableState: t.stateLocked(p)}})
		})
	case *pb.Envelope_Bid:
		s.seated(c, seq, func(r *Room, t *table) {
			bid := int(m.Bid.Bid)
			s.move(c, seq, t, &bid, nil, nil)
		})
	case *pb.Envelope_Play:
		s.seated(c, seq, func(r *Room, t *table) {
			s.move(c, seq, t, nil, m.Play.Cards, m.Play.Reading)
		})
	case *pb.Envelope_Chat:
		s.chat(c, seq, m.Chat)
	case *pb.Envelope_Hello:
		c.sendError(seq, pb.ErrorCode_BAD_REQUEST, "already authenticated")
	default:
		c.sendError(seq, pb.ErrorCode_BAD_REQUEST, "a server message cannot be sent to the server")
	}
}

func (s *Server) move(c *conn, seq uint32, t *table, bid *int, cards []byte, reading *pb.Combo) {
	code, msg := t.moveLocked(c.p, bid, cards, reading)
	if code != 0 {
		c.sendError(seq, code, msg)
		return
	}
	c.sendOK(seq)
}

// inRoom runs f under the lock of c's room.
func (s *Server) inRoom(c *conn, seq uint32, f func(r *Room)) {
	r := c.p.room.Load()
	if r == nil {
		c.sendError(seq, pb.ErrorCode_NOT_IN_ROOM, "enter a room first")
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

func (s *Server) seated(c *conn, seq uint32, f func(r *Room, t *table)) {
	s.inRoom(c, seq, func(r *Room) {
		if c.p.table == nil {
			c.sendError(seq, pb.ErrorCode_NOT_SEATED, "sit down first")
			return
		}
		f(r, c.p.table)
	})
}

// quickTable picks the table a quick seat fills: one about to start (most
// players, no game), else any with a free seat.
func quickTable(r *Room) *table {
	var best *table
	bestFree := seats + 1
	for _, t := range r.tables {
		if t.game != nil {
			continue
		}
		if f := t.free(); f > 0 && f < bestFree {
			best, bestFree = t, f
			if f == 1 {
				break
			}
		}
	}
	return best
}

func (s *Server) enterRoom(c *conn, seq uint32, num int32) {
	p := c.p
	if cur := p.room.Load(); cur != nil {
		if cur.num == num {
			cur.mu.Lock()
			c.sendMsg(seq, &pb.Envelope{Msg: &pb.Envelope_RoomState{RoomState: cur.stateLocked(p)}})
			cur.mu.Unlock()
			return
		}
		c.sendError(seq, pb.ErrorCode_ALREADY_IN_ROOM, "leave your room first")
		return
	}
	r := s.room(num)
	if r == nil {
		c.sendError(seq, pb.ErrorCode_NO_SUCH_ROOM, "this shard has no such room")
		return
	}
	entered, ok := s.admit()
	if !ok {
		c.sendError(seq, pb.ErrorCode_DRAINING, "this server is closing; pick a room from the hall")
		return
	}
	defer entered() // after the join: a drain waits for this entry to settle
	if !r.reserve() {
		c.sendError(seq, pb.ErrorCode_ROOM_FULL, "the room is full", s.roomsWithSeats(r.num, 3)...)
		return
	}
	code, msg, session := s.join(c, seq, r)
	if code != 0 {
		r.unreserve()
		c.sendError(seq, code, msg)
		if code == pb.ErrorCode_SESSION_SUPERSEDED {
			s.disconnect(p.account, session, kickSuperseded)
		}
	}
}

// join records c's player in r in presence and, if the connection is still
// the player's, seats it in r (answering RoomState); else it undoes the
// entry. A failed presence entry returns its code, the reservation kept.
func (s *Server) join(c *conn, seq uint32, r *Room) (pb.ErrorCode, string, string) {
	p := c.p
	mu := s.accountLock(p.account)
	mu.Lock()
	defer mu.Unlock()
	s.payLeaveLocked(p.account)
	s.mu.Lock()
	session := p.session
	s.mu.Unlock()
	if code, msg := s.presenceEnter(p.account, session, r); code != 0 {
		return code, msg, session
	}
	// Presence was asked without the locks: the connection may have been
	// replaced (a second Hello), closed, or its session superseded since.
	// Joining then would seat a member nobody holds — a ghost that keeps
	// the room full and the shard from ever draining empty.
	s.mu.Lock()
	r.mu.Lock()
	if p.conn.Load() != c || s.players[p.account] != p || p.session != session || p.room.Load() != nil || s.closing {
		r.reserved--
		answer := p.conn.Load() == c // still there: the shard is closing, or it entered meanwhile
		r.mu.Unlock()
		s.mu.Unlock()
		s.presenceLeaveLocked(p.account, s.roomKey(r)) // undo, unless the account sits there again
		if answer {
			c.sendError(seq, pb.ErrorCode_DRAINING, "this server is closing; pick a room from the hall")
		}
		return 0, "", session
	}
	r.joinLocked(p)
	c.sendMsg(seq, &pb.Envelope{Msg: &pb.Envelope_RoomState{RoomState: r.stateLocked(p)}})
	r.mu.Unlock()
	s.mu.Unlock()
	return 0, "", session
}

// roomsWithSeats suggests up to n other rooms of this shard with free places,
// fullest first would crowd them; take them in order after the full one.
func (s *Server) roomsWithSeats(except int32, n int) []int32 {
	var out []int32
	start := int(except) - s.cfg.FirstRoom
	for i := 1; i < len(s.rooms) && len(out) < n; i++ {
		r := s.rooms[(start+i)%len(s.rooms)]
		r.mu.Lock()
		free := r.cap - len(r.members) - r.reserved
		r.mu.Unlock()
		if free > 0 {
			out = append(out, r.num)
		}
	}
	return out
}

func (s *Server) leaveRoom(c *conn, seq uint32) {
	p := c.p
	r := p.room.Load()
	if r == nil {
		c.sendError(seq, pb.ErrorCode_NOT_IN_ROOM, "you are not in a room")
		return
	}
	r.mu.Lock()
	if t := p.table; t != nil && t.game != nil {
		t.escapeLocked(p.seat)
	}
	r.removeLocked(p)
	c.sendOK(seq)
	r.mu.Unlock()
	s.presenceLeave(p.account, r)
}

func (s *Server) chat(c *conn, seq uint32, m *pb.Chat) {
	p := c.p
	n := utf8.RuneCountInString(m.Text)
	switch {
	case n == 0:
		c.sendError(seq, pb.ErrorCode_BAD_REQUEST, "empty chat message")
		return
	case n > s.cfg.ChatMaxRunes:
		c.sendError(seq, pb.ErrorCode_CHAT_TOO_LONG, "chat messages are limited in length")
		return
	case m.Scope != pb.ChatScope_ROOM && m.Scope != pb.ChatScope_TABLE:
		c.sendError(seq, pb.ErrorCode_BAD_REQUEST, "chat scope must be TABLE or ROOM")
		return
	}
	if !c.chat.take(time.Now()) {
		c.sendError(seq, pb.ErrorCode_RATE_LIMITED, "you are chatting too fast")
		return
	}
	s.inRoom(c, seq, func(r *Room) {
		msg := &pb.ChatMessage{Scope: m.Scope, Room: r.num, Table: -1, Account: p.account, Text: m.Text}
		if m.Scope == pb.ChatScope_TABLE {
			if p.table == nil {
				c.sendError(seq, pb.ErrorCode_NOT_SEATED, "sit down to chat at a table")
				return
			}
			msg.Table = p.table.num
			c.sendOK(seq)
			p.table.sendSeatsLocked(protocol.MustMarshal(&pb.Envelope{Msg: &pb.Envelope_ChatMessage{ChatMessage: msg}}), true)
			return
		}
		c.sendOK(seq)
		r.queueLocked(&pb.Envelope{Msg: &pb.Envelope_ChatMessage{ChatMessage: msg}})
	})
}
