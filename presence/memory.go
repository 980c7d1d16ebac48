package presence

import (
	"context"
	"sort"
	"sync"
	"time"
)

// KickReason is the reason given to a session that a newer login replaced.
const KickReason = "logged in elsewhere"

// kickBuffer bounds each subscriber's queue: a subscriber that falls this
// far behind loses kicks rather than stalling logins.
const kickBuffer = 4096

// Memory is the in-process Store for gamehall local and tests. Entries
// expire lazily on access and in a periodic sweep.
type Memory struct {
	mu       sync.Mutex
	sessions map[string]memSession  // account → live session
	rooms    map[roomID]memRoom     // (account, game) → place
	peers    map[string]memPeer     // name → advertisement
	subs     map[chan Kick]struct{} // Kicks subscribers
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
	session string // session that entered; "" if recreated by TouchRoom
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
		subs:     map[chan Kick]struct{}{},
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
		k := Kick{Account: account, Session: prev, Reason: KickReason}
		for ch := range m.subs {
			select {
			case ch <- k:
			default: // subscriber far behind: see kickBuffer
			}
		}
	}
	return prev, nil
}

func (m *Memory) Logout(ctx context.Context, account, session string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	if m.live(account) == session {
		delete(m.sessions, account)
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

func (m *Memory) Touch(ctx context.Context, account, session string, ttl time.Duration) error {
	if err := validate(account, session, ttl); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	switch cur := m.live(account); cur {
	case session, "": // "" : lost (e.g. store restarted); the holder restores it
		m.sessions[account] = memSession{id: session, exp: m.now().Add(ttl)}
		return nil
	default:
		return ErrSessionSuperseded
	}
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
	if m.live(account) != session {
		return ErrSessionSuperseded
	}
	id := roomID{account, game}
	if cur, ok := m.room(id); ok && cur.where != where && cur.session == session {
		return ErrInOtherRoom
	}
	// A different place held by an older session yields: that session was
	// superseded and its shard is closing it.
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

func (m *Memory) TouchRoom(ctx context.Context, account, game string, where RoomKey, ttl time.Duration) error {
	if err := validateRoom(account, game, where, ttl); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	id := roomID{account, game}
	cur, ok := m.room(id)
	switch {
	case !ok: // lost (store restarted): the shard still seats the player, restore
		m.rooms[id] = memRoom{where: where, exp: m.now().Add(ttl)}
	case cur.where == where:
		cur.exp = m.now().Add(ttl)
		m.rooms[id] = cur
	default:
		return ErrInOtherRoom
	}
	return nil
}

func (m *Memory) Kicks(ctx context.Context) (<-chan Kick, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	ch := make(chan Kick, kickBuffer)
	m.subs[ch] = struct{}{}
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
