package presence

import (
	"context"
	"sort"
	"sync"
	"time"
)

// KickReason is the reason given to a session that a newer login replaced.
const KickReason = "logged in elsewhere"

// LogoutReason is the reason given to a session that logged out.
const LogoutReason = "logged out"

// MovedReason is the reason given to a session whose room entry a newer
// session of the account took, entering a room elsewhere: the old seat must
// go (one room per game).
const MovedReason = "playing in another room"

// kickBuffer bounds each subscriber's queue: a subscriber that falls this
// far behind loses kicks rather than stalling logins, and is told so (Resync).
const kickBuffer = 4096

// Memory is the in-process Store for gamehall local and tests. Entries
// expire lazily on access and in a periodic sweep.
type Memory struct {
	mu       sync.Mutex
	sessions map[string]memSession // account → live session
	rooms    map[roomID]memRoom    // (account, game) → place
	peers    map[string]memPeer    // name → advertisement
	alive    map[string]time.Time  // shard → end of its liveness (Refresh)
	subs     map[chan Kick]bool    // Kicks subscribers → kicks were dropped (Resync owed)
	lim      limiterState
	now      func() time.Time
	stop     chan struct{}
	closed   bool
}

type memSession struct {
	id  string
	exp time.Time
}

type roomID struct{ account, game string }

type memRoom struct {
	where   RoomKey
	session string // session that entered (or re-asserted) it
	exp     time.Time
}

type memPeer struct {
	p   Peer
	exp time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory Store. Close stops its sweeper.
func NewMemory() *Memory {
	m := &Memory{
		sessions: map[string]memSession{},
		rooms:    map[roomID]memRoom{},
		peers:    map[string]memPeer{},
		alive:    map[string]time.Time{},
		subs:     map[chan Kick]bool{},
		now:      time.Now,
		stop:     make(chan struct{}),
	}
	go m.sweepLoop()
	return m
}

func (m *Memory) sweepLoop() {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
		}
	}
}

func (m *Memory) sweep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for k, s := range m.sessions {
		if !now.Before(s.exp) {
			delete(m.sessions, k)
		}
	}
	for k, r := range m.rooms {
		if !now.Before(r.exp) {
			delete(m.rooms, k)
		}
	}
	for k, p := range m.peers {
		if !now.Before(p.exp) {
			delete(m.peers, k)
		}
	}
	for k, exp := range m.alive {
		if !now.Before(exp) {
			delete(m.alive, k)
		}
	}
	m.lim.dropExpired(now)
}

// live returns the account's unexpired session; m.mu must be held.
func (m *Memory) live(account string) string {
	s, ok := m.sessions[account]
	if !ok {
		return ""
	}
	if !m.now().Before(s.exp) {
		delete(m.sessions, account)
		return ""
	}
	return s.id
}

func (m *Memory) room(id roomID) (memRoom, bool) {
	r, ok := m.rooms[id]
	if ok && !m.now().Before(r.exp) {
		delete(m.rooms, id)
		return memRoom{}, false
	}
	return r, ok
}

// aliveLocked reports whether the shard beat within its liveness; m.mu must
// be held.
func (m *Memory) aliveLocked(shard string) bool {
	exp, ok := m.alive[shard]
	return ok && m.now().Before(exp)
}

func (m *Memory) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.closed {
		return errClosed
	}
	return nil
}

func (m *Memory) Login(ctx context.Context, account, session string, ttl time.Duration) (string, error) {
	if err := validate(account, session, ttl); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return "", err
	}
	prev := m.live(account)
	m.sessions[account] = memSession{id: session, exp: m.now().Add(ttl)}
	if prev != "" && prev != session {
		m.publishLocked(Kick{Account: account, Session: prev, Reason: KickReason})
	}
	return prev, nil
}

func (m *Memory) LoginIf(ctx context.Context, account, session, expect string, ttl time.Duration) (string, bool, error) {
	if err := validate(account, session, ttl); err != nil {
		return "", false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return "", false, err
	}
	prev := m.live(account)
	if prev != expect {
		return prev, false, nil
	}
	m.sessions[account] = memSession{id: session, exp: m.now().Add(ttl)}
	if prev != "" && prev != session {
		m.publishLocked(Kick{Account: account, Session: prev, Reason: KickReason})
	}
	return prev, true, nil
}

// publishLocked sends k to every subscriber. One too far behind loses it and
// gets a Resync as soon as there is room again (see kickBuffer).
func (m *Memory) publishLocked(k Kick) {
	for ch, lost := range m.subs {
		if lost {
			select {
			case ch <- Kick{Resync: true}:
				m.subs[ch] = false
			default:
				continue
			}
		}
		select {
		case ch <- k:
		default:
			m.subs[ch] = true
		}
	}
}

func (m *Memory) Logout(ctx context.Context, account, session string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	if m.live(account) == session {
		delete(m.sessions, account)
		m.publishLocked(Kick{Account: account, Session: session, Reason: LogoutReason})
	}
	return nil
}

func (m *Memory) Session(ctx context.Context, account string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return "", err
	}
	return m.live(account), nil
}

func (m *Memory) EnterRoom(ctx context.Context, account, session, game string, where RoomKey, ttl time.Duration) error {
	if err := validateRoom(account, game, where, ttl); err != nil {
		return err
	}
	if session == "" {
		return errNoSession
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	switch m.live(account) {
	case session:
	case "": // lost: the ticket's holder restores it
		m.sessions[account] = memSession{id: session, exp: m.now().Add(ttl)}
	default:
		return ErrSessionSuperseded
	}
	return m.takeRoomLocked(account, session, game, where, ttl)
}

// takeRoomLocked records (account, game) → where for the live session. A
// different place of the same session blocks while its shard is alive (the
// caller's own shard is); one held by an older session yields, and its
// holder is told to give the seat up (MovedReason).
func (m *Memory) takeRoomLocked(account, session, game string, where RoomKey, ttl time.Duration) error {
	id := roomID{account, game}
	cur, ok := m.room(id)
	if ok && cur.where != where {
		if cur.session == session {
			if cur.where.Shard == where.Shard || m.aliveLocked(cur.where.Shard) {
				return ErrInOtherRoom
			}
		} else {
			m.publishLocked(Kick{Account: account, Session: cur.session, Reason: MovedReason})
		}
	}
	m.rooms[id] = memRoom{where: where, session: session, exp: m.now().Add(ttl)}
	return nil
}

func (m *Memory) LeaveRoom(ctx context.Context, account, game string, where RoomKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	id := roomID{account, game}
	if cur, ok := m.room(id); ok && cur.where == where {
		delete(m.rooms, id)
	}
	return nil
}

func (m *Memory) RoomOf(ctx context.Context, account, game string) (RoomKey, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return RoomKey{}, false, err
	}
	cur, ok := m.room(roomID{account, game})
	return cur.where, ok, nil
}

func (m *Memory) Refresh(ctx context.Context, beat Beat, holds []Hold, ttl time.Duration) ([]error, bool, error) {
	if err := validateRefresh(beat, holds, ttl); err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, false, err
	}
	lapsed := !m.aliveLocked(beat.Shard)
	now := m.now()
	m.alive[beat.Shard] = now.Add(beat.Alive)
	errs := make([]error, len(holds))
	for i, h := range holds {
		cur, ok := m.sessions[h.Account]
		switch {
		case !ok || !now.Before(cur.exp): // lost: restore
			m.sessions[h.Account] = memSession{id: h.Session, exp: now.Add(ttl)}
		case cur.id != h.Session:
			errs[i] = ErrSessionSuperseded
			if r, ok := m.room(roomID{h.Account, h.Game}); h.Game != "" && ok && r.where != h.Room && m.aliveLocked(r.where.Shard) {
				errs[i] = ErrInOtherRoom // and the newer session plays elsewhere
			}
			continue
		case cur.exp.Before(now.Add(ttl)): // extend, never shorten a login's TTL
			m.sessions[h.Account] = memSession{id: h.Session, exp: now.Add(ttl)}
		}
		if h.Game != "" {
			errs[i] = m.takeRoomLocked(h.Account, h.Session, h.Game, h.Room, ttl)
		}
	}
	return errs, lapsed, nil
}

func (m *Memory) Kicks(ctx context.Context) (<-chan Kick, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	ch := make(chan Kick, kickBuffer)
	m.subs[ch] = false
	go func() {
		select {
		case <-ctx.Done():
		case <-m.stop:
		}
		m.mu.Lock()
		delete(m.subs, ch)
		close(ch)
		m.mu.Unlock()
	}()
	return ch, nil
}

func (m *Memory) Advertise(ctx context.Context, p Peer, ttl time.Duration) error {
	if err := validatePeer(p, ttl); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	m.peers[p.Name] = memPeer{p: p, exp: m.now().Add(ttl)}
	return nil
}

func (m *Memory) Peers(ctx context.Context) ([]Peer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	now := m.now()
	out := make([]Peer, 0, len(m.peers))
	for name, p := range m.peers {
		if !now.Before(p.exp) {
			delete(m.peers, name)
			continue
		}
		out = append(out, p.p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Close ends Kicks subscriptions; later calls fail.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.stop)
	}
	return nil
}

// ActiveSessions counts live sessions (for the gamehall_active_sessions gauge).
func (m *Memory) ActiveSessions(ctx context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return 0, err
	}
	now, n := m.now(), 0
	for _, s := range m.sessions {
		if now.Before(s.exp) {
			n++
		}
	}
	return n, nil
}

// Ping reports whether the store is open (for readiness probes).
func (m *Memory) Ping(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.check(ctx)
}
