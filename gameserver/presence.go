package gameserver

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/protocol/pb"
)

// The shard and presence. Presence (Redis) is a shared cache of what the
// shards hold: the shard is the truth about its own players. So:
//   - entering a room asks presence (one room per game across shards);
//   - a heartbeat re-asserts every session and room entry the shard holds
//     (presence.Store.Refresh), which also rebuilds them after presence lost
//     its data; a session presence says was superseded is disconnected, a
//     seat whose account plays elsewhere given up;
//   - a frequent beat (Refresh with no holds, every AliveTTL/3) keeps the
//     shard alive in presence: a shard that stops beating (killed) no longer
//     keeps its players from other shards' rooms. A beat that finds the
//     shard's liveness lapsed (cut off, stalled, presence restarted) runs the
//     heartbeat at once: a player who entered elsewhere meanwhile gives this
//     seat up (one room per game);
//   - kicks (onKick: a newer login, a logout, a room taken elsewhere) act at
//     once; when kicks may have been lost (the subscription was cut) the
//     heartbeat runs at once;
//   - a leave presence did not take is retried by the heartbeat;
//   - presence being down refuses new entries (nobody can check them), and
//     nothing else: players stay, resumes of a held session go on.

// Presence writes of one account's room entry are ordered on the shard by
// the account's stripe lock, taken before and never under Server.mu or a
// room's lock: an entry undone, retried or re-asserted late must not remove
// or overwrite one made since.
const accountStripes = 64

func (s *Server) accountLock(account string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(account))
	return &s.stripes[h.Sum32()%accountStripes]
}

// presenceEnter records the room in presence and maps its errors to codes.
// The caller holds the account's stripe lock.
func (s *Server) presenceEnter(account, session string, r *Room) (pb.ErrorCode, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.deps.Presence.EnterRoom(ctx, account, session, s.cfg.Game, s.roomKey(r), s.cfg.PresenceTTL)
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

func (s *Server) roomKey(r *Room) presence.RoomKey {
	return presence.RoomKey{Shard: s.presenceName(), Room: int(r.num)}
}

// presenceName is this process's identity in presence, "<shard>/<epoch>":
// the GameServer that replaces a killed one serves the same shard (and
// rooms), and must not keep the dead process's entries alive with its beats.
func (s *Server) presenceName() string { return s.cfg.Shard + "/" + s.epoch }

// presenceLeave removes the room entry; one presence did not take is owed
// and retried by the heartbeat (until then the entry keeps the player from
// entering another room, at most for its TTL).
func (s *Server) presenceLeave(account string, r *Room) {
	mu := s.accountLock(account)
	mu.Lock()
	defer mu.Unlock()
	s.presenceLeaveLocked(account, s.roomKey(r))
}

// presenceLeaveLocked is presenceLeave with the stripe lock held. Nothing
// is removed that the shard holds at where again.
func (s *Server) presenceLeaveLocked(account string, where presence.RoomKey) {
	if s.holdsAt(account, where) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.deps.Presence.LeaveRoom(ctx, account, s.cfg.Game, where); err != nil {
		s.log.Error(err, "presence leave failed; retried with the heartbeat", "account", account)
		s.mu.Lock()
		s.leaves[account] = where
		s.mu.Unlock()
	}
}

// payLeaveLocked makes the leave presence still owes for the account, if
// any, before it enters again (the stale entry would refuse it). The caller
// holds the account's stripe lock.
func (s *Server) payLeaveLocked(account string) {
	s.mu.Lock()
	where, owed := s.leaves[account]
	delete(s.leaves, account)
	s.mu.Unlock()
	if owed {
		s.presenceLeaveLocked(account, where)
	}
}

// checkLive evicts c's player if presence says its session was superseded.
// Presence being down or having lost the session proves nothing: the ticket
// is valid, the heartbeat re-asserts it.
func (s *Server) checkLive(c *conn, account, session string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	live, err := s.deps.Presence.Session(ctx, account)
	cancel()
	if err == nil && live != "" && live != session {
		s.disconnect(account, session, kickSuperseded)
	}
}

// disconnect kicks the account's connection if it has session; its seat
// then follows the usual rules of a dropped connection.
func (s *Server) disconnect(account, session string, why kickReason) {
	s.mu.Lock()
	var c *conn
	if p := s.players[account]; p != nil && p.session == session {
		c = p.conn.Load()
	}
	s.mu.Unlock()
	if c != nil {
		c.kick(why)
	}
}

// evict disconnects the account's player if it still has session, and gives
// up its place at once: a logged-out session keeps no seat, nor one whose
// account plays elsewhere now. A running game ends as its escape.
func (s *Server) evict(account, session string, why kickReason) {
	s.mu.Lock()
	p := s.players[account]
	if p == nil || p.session != session {
		s.mu.Unlock()
		return
	}
	c := p.conn.Load()
	r := p.room.Load()
	if r != nil {
		r.mu.Lock()
		if t := p.table; t != nil && t.game != nil {
			t.escapeLocked(p.seat)
		}
		r.removeLocked(p)
		r.mu.Unlock()
	}
	p.conn.Store(nil)
	p.graceGen++ // a pending grace timer finds nothing to do
	delete(s.players, account)
	s.mu.Unlock()
	s.metrics.evictions.Inc()
	if c != nil {
		c.kick(why)
	}
	if r != nil {
		s.presenceLeave(account, r)
	}
}

// kickLoop evicts the sessions presence kicks (a newer login, a logout),
// and runs the heartbeat at once whenever kicks may have been lost: the
// subscription was cut, or could not be made.
func (s *Server) kickLoop(ctx context.Context, ch <-chan presence.Kick) {
	for ctx.Err() == nil {
		var err error
		if ch == nil {
			if ch, err = s.deps.Presence.Kicks(ctx); err == nil {
				s.refreshNow()
			}
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
			if k.Resync {
				s.log.Info("presence kicks may have been lost: re-checking every session")
				s.refreshNow()
				continue
			}
			s.onKick(k)
		}
		ch = nil
	}
}

// refreshNow asks the heartbeat for a round now.
func (s *Server) refreshNow() {
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

// beat is what the shard's Refresh calls say of it.
func (s *Server) beat() presence.Beat {
	return presence.Beat{Shard: s.presenceName(), Alive: s.cfg.AliveTTL}
}

// beatOnce tells presence this shard is alive; lapsed: its liveness had
// expired before (or never existed).
func (s *Server) beatOnce(ctx context.Context) (lapsed bool, err error) {
	bctx, cancel := context.WithTimeout(ctx, s.cfg.AliveTTL/3)
	defer cancel()
	_, lapsed, err = s.deps.Presence.Refresh(bctx, s.beat(), nil, s.cfg.PresenceTTL)
	return lapsed, err
}

// aliveLoop goes on from the beat Run made before accepting players
// (its error: err): every AliveTTL/3, and every beatRetry while presence
// does not answer. Apart from the heartbeat, so a long heartbeat (many
// players, a slow presence) cannot hold the liveness up.
func (s *Server) aliveLoop(ctx context.Context, err error) {
	period := s.cfg.AliveTTL / 3
	beaten := false  // the first beat finds no liveness: nothing to re-check
	failing := false // logged once per outage
	lapsed := false
	for {
		next := period
		switch {
		case err != nil:
			if ctx.Err() == nil {
				if !failing {
					s.log.Error(err, "presence beat failed; retrying", "every", beatRetry)
				}
				s.metrics.heartbeatFailures.Inc()
			}
			// Soon: once presence answers again (after an outage longer than
			// AliveTTL every liveness has lapsed), this shard must be alive
			// in it again before other shards take its players' entries.
			failing, next = true, beatRetry
		case lapsed && beaten:
			// Other shards may have taken our players' entries meanwhile.
			s.log.Info("presence liveness had lapsed: re-checking every session and room")
			s.refreshNow()
			fallthrough
		default:
			beaten, failing = true, false
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
		lapsed, err = s.beatOnce(ctx)
	}
}

// beatRetry is how soon a beat presence did not answer is tried again.
const beatRetry = 500 * time.Millisecond

// heartbeatLoop re-asserts, every PresenceTTL/3 and when asked, every
// session and room entry the shard holds, and retries owed leaves.
func (s *Server) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.PresenceTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.refresh:
		}
		s.heartbeat(ctx)
	}
}

func (s *Server) heartbeat(ctx context.Context) {
	var holds []presence.Hold
	leaves := map[string]presence.RoomKey{}
	s.mu.Lock()
	for _, p := range s.players {
		h := presence.Hold{Account: p.account, Session: p.session}
		if r := p.room.Load(); r != nil {
			h.Game, h.Room = s.cfg.Game, s.roomKey(r)
		}
		holds = append(holds, h)
	}
	for a, w := range s.leaves {
		leaves[a] = w
	}
	s.mu.Unlock()

	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	errs, _, err := s.deps.Presence.Refresh(hctx, s.beat(), holds, s.cfg.PresenceTTL)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error(err, "presence heartbeat failed; players stay, retried", "holds", len(holds))
			s.metrics.heartbeatFailures.Inc()
		}
		return
	}
	for i, h := range holds {
		if errs[i] == nil && h.Game == "" {
			continue
		}
		s.settleRefresh(h, errs[i])
	}
	for account, where := range leaves {
		mu := s.accountLock(account)
		mu.Lock()
		s.mu.Lock()
		owed := s.leaves[account] == where
		delete(s.leaves, account)
		s.mu.Unlock()
		if owed {
			s.presenceLeaveLocked(account, where) // owed again if it fails
		}
		mu.Unlock()
	}
}

// settleRefresh acts on one hold's refresh, which ran on a snapshot: the
// player may have moved since.
func (s *Server) settleRefresh(h presence.Hold, err error) {
	if errors.Is(err, presence.ErrSessionSuperseded) {
		s.disconnect(h.Account, h.Session, kickSuperseded) // only if it still has that session
		return
	}
	mu := s.accountLock(h.Account)
	mu.Lock()
	current := s.holdsAt(h.Account, h.Room)
	if err == nil && !current {
		// Re-asserted a place the player left meanwhile: take it back.
		s.presenceLeaveLocked(h.Account, h.Room)
	}
	mu.Unlock()
	if err != nil && current {
		// The account sits in another room of the game: one room per game.
		s.log.Info("presence heartbeat: the account plays in another room; giving this seat up", "account", h.Account, "err", err.Error())
		s.evict(h.Account, h.Session, kickMoved)
	}
}

// holdsAt reports whether the shard seats the account in the room at where.
func (s *Server) holdsAt(account string, where presence.RoomKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.players[account]
	if p == nil {
		return false
	}
	r := p.room.Load()
	return r != nil && s.roomKey(r) == where
}
