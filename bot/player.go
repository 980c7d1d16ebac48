package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/protocol/pb"
)

// player is one simulated person.
type player struct {
	r       *Runner
	account string
	rng     *mrand.Rand
}

func (p *player) run(ctx context.Context) {
	for first := true; ; first = false {
		if !first {
			// Come back later: exponentially distributed breaks.
			if !p.sleep(ctx, time.Duration(p.rng.ExpFloat64()*float64(p.r.cfg.Break))) {
				return
			}
		}
		if ctx.Err() != nil || p.r.stopping() {
			return
		}
		if p.r.sem != nil {
			select {
			case p.r.sem <- struct{}{}:
			case <-ctx.Done():
				return
			case <-p.r.stop:
				return
			}
		}
		p.visit(ctx)
		if p.r.sem != nil {
			<-p.r.sem
		}
	}
}

// sleep waits d unless the run stops; it reports whether to go on.
func (p *player) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-p.r.stop:
	}
	return false
}

func (p *player) think() time.Duration {
	t := p.r.cfg.Think
	return t/2 + time.Duration(p.rng.Int64N(int64(t)+1))
}

// visit is one stay: login, directory, a room, a few games, leave.
func (p *player) visit(ctx context.Context) {
	st := p.r.stats
	t0 := time.Now()
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	lr, err := p.r.hall.login(lctx, p.account)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		st.LoginFailures.Add(1)
		p.failure("login", err)
		p.sleep(ctx, time.Second+time.Duration(p.rng.Int64N(int64(2*time.Second))))
		return
	}
	st.Login.Record(time.Since(t0))
	st.Logins.Add(1)
	base := p.r.hall.base
	if len(lr.Halls) > 0 && lr.Halls[0] != "" {
		base = lr.Halls[0]
	}
	region, err := p.r.regionFor(ctx, p, base, lr.Ticket)
	if err != nil {
		if ctx.Err() == nil {
			p.failure("regions", err)
			p.sleep(ctx, 2*time.Second)
		}
		return
	}
	// A room can have people standing when every table is taken (capacity
	// above tables × 3): then the player tries another room.
	tried := map[int]bool{}
	for try := 0; try < 4; try++ {
		conn, room := p.enter(ctx, base, region, lr.Ticket, tried)
		if conn == nil {
			return
		}
		out, last := p.play(ctx, conn, region, room, lr.Ticket)
		last.close()
		switch out {
		case visitOver:
			return
		case noSeat:
			tried[room] = true
		case shardGone:
			// The hall no longer offers the shard's rooms (or soon will not).
			st.BackToHall.Add(1)
			p.r.events.add(Event{Kind: EvBackToHall, Account: p.account, Shard: last.addr})
			tried[room] = true
		}
	}
}

// afterLoss decides what a player does when its connection ended in a
// room: a shard going away sends it back to the hall, another kick ends the
// visit, a lost connection is resumed. It returns the new session of a
// resumed seat, or nil and the outcome of the stay.
func (p *player) afterLoss(ctx context.Context, s *session, ticket string, v *View) (*session, outcome) {
	st := p.r.stats
	err := s.c.Err()
	inGame := v.Phase == pb.GamePhase_BIDDING || v.Phase == pb.GamePhase_PLAYING
	ev := Event{Account: p.account, Shard: s.addr, InGame: inGame, Detail: fmt.Sprint(err)}
	var k *client.KickedError
	switch {
	case errors.As(err, &k) && client.ShardGone(err):
		st.Cut.Add(1)
		ev.Kind, ev.Code = EvCut, k.Code.String()
		p.r.events.add(ev)
		p.r.log.V(1).Info("the shard went away with us in a room", "account", p.account, "shard", s.addr, "err", ev.Detail)
		return nil, shardGone
	case errors.As(err, &k):
		st.Kicked.Add(1)
		ev.Kind, ev.Code = EvKicked, k.Code.String()
		p.r.events.add(ev)
		return nil, visitOver
	}
	st.Dropped.Add(1)
	ev.Kind = EvLost
	p.r.events.add(ev)
	p.r.log.V(1).Info("connection lost; resuming the seat", "account", p.account, "shard", s.addr, "err", ev.Detail)
	if !inGame {
		return nil, shardGone // out of a game the shard let the place go at once
	}
	return p.resumeSeat(ctx, s.addr, ticket, v, time.Now())
}

// resumeSeat dials the shard at addr again with the same ticket until it
// gives the seat of v back (Welcome.resumed, the same table and seat), for
// at most Config.ResumeWithin after lost. It loads the table into v.
func (p *player) resumeSeat(ctx context.Context, addr, ticket string, v *View, lost time.Time) (*session, outcome) {
	st := p.r.stats
	fail := func(why string) (*session, outcome) {
		st.ResumeFailures.Add(1)
		p.r.events.add(Event{Kind: EvResumeFailed, Account: p.account, Shard: addr, Detail: why})
		p.r.log.V(1).Info("seat not resumed", "account", p.account, "shard", addr, "why", why)
		return nil, shardGone
	}
	deadline := lost.Add(p.r.cfg.ResumeWithin)
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		dctx, cancel := context.WithDeadline(ctx, deadline)
		ns, err := dial(dctx, p.r, addr, ticket)
		cancel()
		switch {
		case err == nil && !ns.c.Welcome.Resumed:
			ns.close()
			return fail("the shard no longer held the seat")
		case err == nil:
			rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			ts, err := ns.c.GetTable(rctx)
			cancel()
			if err != nil || int(ts.Table) != v.Table || int(ts.MySeat) != v.MySeat {
				ns.close()
				return fail(fmt.Sprintf("not back at table %d seat %d: %v %v", v.Table, v.MySeat, ts, err))
			}
			v.Reset(ts)
			st.Resumes.Add(1)
			st.Resume.Record(time.Since(lost))
			p.r.events.add(Event{Kind: EvResumed, Account: p.account, Shard: addr, Millis: time.Since(lost).Milliseconds(), InGame: true})
			return ns, visitOver
		case ctx.Err() != nil:
			return nil, visitOver
		case client.ShardGone(err):
			return fail("the shard is gone: " + err.Error())
		case !time.Now().Before(deadline):
			return fail("no resume within " + p.r.cfg.ResumeWithin.String() + ": " + err.Error())
		}
		if !p.sleep(ctx, delay) {
			return nil, visitOver
		}
	}
}

// enter chooses a room and enters it, trying others on ROOM_FULL. It returns
// the connection (nil on failure).
func (p *player) enter(ctx context.Context, base, region, ticket string, tried map[int]bool) (*session, int) {
	st := p.r.stats
	var conn *session
	var next []hall.Room    // rooms to try before looking at the directory again
	var heldSince time.Time // the first IN_OTHER_ROOM of this entry (Config.HeldRetry)
	for attempt := 0; attempt < 8; attempt++ {
		if ctx.Err() != nil || p.r.stopping() {
			break
		}
		if len(next) == 0 {
			t0 := time.Now()
			dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			rooms, err := p.r.hall.directory(dctx, base, region, ticket)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					p.failure("directory", err)
					p.sleep(ctx, time.Second)
				}
				break
			}
			st.Directory.Record(time.Since(t0))
			if room, ok := chooseRoom(rooms, tried, int(p.r.seats.Load()), p.rng); ok {
				next = []hall.Room{room}
			} else {
				st.NoRoom.Add(1)
				if !p.sleep(ctx, time.Second+time.Duration(p.rng.Int64N(int64(2*time.Second)))) {
					break
				}
				clear(tried)
				continue
			}
		}
		room := next[0]
		next = next[1:]
		tried[room.Room] = true
		addr := net.JoinHostPort(room.Address, strconv.Itoa(room.Port))
		if conn != nil && conn.addr != addr {
			conn.close()
			conn = nil
		}
		if conn == nil {
			if conn = p.dialShard(ctx, addr, ticket); conn == nil {
				continue // the shard may have just stopped: try another room
			}
		}
		t0 := time.Now()
		ectx, cancel := context.WithTimeout(ctx, 15*time.Second)
		rs, err := conn.c.EnterRoom(ectx, room.Room)
		cancel()
		if err == nil {
			if n := int64(rs.TablesTotal) * 3; n > 0 {
				p.r.seats.Store(n)
			}
			st.Enter.Record(time.Since(t0))
			st.Entries.Add(1)
			return conn, room.Room
		}
		if ctx.Err() != nil {
			break
		}
		st.EntryFailures.Add(1)
		var pe *client.Error
		if !errors.As(err, &pe) {
			conn.close()
			conn = nil
			continue
		}
		switch pe.Code {
		case pb.ErrorCode_ROOM_FULL:
			st.RoomFull.Add(1)
			// The shard names rooms of its own with seats: try one.
			for _, n := range pe.Rooms {
				if !tried[int(n)] {
					next = append(next, hall.Room{Room: int(n), Address: room.Address, Port: room.Port})
					break
				}
			}
		case pb.ErrorCode_DRAINING, pb.ErrorCode_NO_SUCH_ROOM:
			st.Draining.Add(1)
			conn.close()
			conn = nil
		case pb.ErrorCode_UNAVAILABLE:
			p.sleep(ctx, time.Second)
		case pb.ErrorCode_IN_OTHER_ROOM:
			// Presence still holds this account's seat from a previous
			// connection (in its reconnect grace, or of a shard that died
			// and whose liveness has not lapsed yet): one room per game is
			// the rule. Try again for HeldRetry, then come back later.
			st.InOtherRoom.Add(1)
			p.r.events.add(Event{Kind: EvInOtherRoom, Account: p.account, Shard: addr})
			if heldSince.IsZero() {
				heldSince = time.Now()
			}
			if time.Since(heldSince) < p.r.cfg.HeldRetry && p.sleep(ctx, time.Second) {
				next = append([]hall.Room{room}, next...)
				attempt-- // waiting for presence to let go, not trying rooms
				continue
			}
			conn.close()
			return nil, 0
		default:
			st.ProtocolError("enter: " + pe.Code.String())
		}
	}
	if conn != nil {
		conn.close()
	}
	return nil, 0
}

// dialShard connects to the shard at addr (nil on failure, counted). A
// seat a previous visit still held (its leave timed out) is taken over by
// the new connection: it is left, so the visit starts afresh.
func (p *player) dialShard(ctx context.Context, addr, ticket string) *session {
	st := p.r.stats
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	c, err := dial(dctx, p.r, addr, ticket)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			st.EntryFailures.Add(1)
			p.r.log.V(1).Info("dial failed", "addr", addr, "err", err.Error())
		}
		return nil
	}
	if w := c.c.Welcome; w != nil && w.Resumed {
		st.Resumed.Add(1)
		lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_ = c.c.LeaveRoom(lctx)
		cancel()
	}
	return c
}

// chooseRoom picks a room as a person scanning the list would: never a
// nearly full one (seats go while you click); a room where people wait for
// partners before any other, since that is where the next game starts; then
// busy rooms likelier than quiet ones but the crowded ones less so, and of
// the empty rooms only the first two in the list, so rooms open one after
// another rather than all at once. seats, when known (from an earlier
// visit's room: tables × 3), is where a room stops having seats even if it
// admits more people standing. It reports false when no room has a seat.
//
// Players waiting: everyone in a room below its seats sits (bots take a
// seat at once, and the shard seats them at the fullest table), so a count
// that is not a multiple of three means a table short of players. Without
// that preference a few players spread over a few rooms one or two at a
// time and never make a table (the e2e's six North players played no game).
func chooseRoom(rooms []hall.Room, tried map[int]bool, seats int, rng *mrand.Rand) (hall.Room, bool) {
	limit := func(r hall.Room) int {
		if seats > 0 && seats < r.Capacity {
			return seats
		}
		return r.Capacity
	}
	var cands, waiting []hall.Room
	var weights []float64
	var empty []hall.Room
	for _, r := range rooms {
		if tried[r.Room] || limit(r) <= 0 || r.Players*100 >= limit(r)*85 {
			continue
		}
		switch {
		case r.Players == 0:
			empty = append(empty, r)
		case r.Players%3 != 0:
			waiting = append(waiting, r)
		default:
			cands = append(cands, r)
		}
	}
	slices.SortFunc(empty, func(a, b hall.Room) int { return a.Room - b.Room })
	if len(waiting) > 0 {
		cands = waiting
	} else {
		cands = append(cands, empty[:min(2, len(empty))]...)
	}
	if len(cands) == 0 {
		// Everything is nearly full: any room with a seat left.
		for _, r := range rooms {
			if !tried[r.Room] && r.Players < limit(r) {
				cands = append(cands, r)
			}
		}
		if len(cands) == 0 {
			return hall.Room{}, false
		}
		return cands[rng.IntN(len(cands))], true
	}
	total := 0.0
	for _, r := range cands {
		// People draw people, up to a point: (players + a tenth of the
		// room) scaled by the share still free.
		c := float64(limit(r))
		w := (float64(r.Players) + c/10) * (c - float64(r.Players)) / c
		weights = append(weights, w)
		total += w
	}
	x := rng.Float64() * total
	for i, w := range weights {
		if x -= w; x <= 0 {
			return cands[i], true
		}
	}
	return cands[len(cands)-1], true
}

func (p *player) failure(what string, err error) {
	var ae *APIError
	var ne net.Error
	switch {
	case errors.As(err, &ae) && ae.Status >= 500:
		p.r.stats.NetFailures.Add(1)
	case errors.As(err, &ae) && ae.Code == "RATE_LIMITED":
		p.r.stats.NetFailures.Add(1)
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		p.r.stats.NetFailures.Add(1)
	default:
		p.r.stats.ProtocolError(what + ": " + errKind(err))
	}
	p.r.log.V(1).Info(what+" failed", "account", p.account, "err", err.Error())
}

// shardFailure counts a failed request on the shard connection: an error
// answer is a protocol error, a timeout or a lost connection is not.
func (p *player) shardFailure(what string, err error) {
	if code := client.Code(err); code != pb.ErrorCode_ERROR_CODE_UNSPECIFIED {
		p.r.stats.ProtocolError(what + ": " + code.String())
		return
	}
	p.r.stats.NetFailures.Add(1)
	p.r.log.V(1).Info(what+" failed", "account", p.account, "err", err.Error())
}

func errKind(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return "network"
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}
