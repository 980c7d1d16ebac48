// Package bot plays simulated players against a gamehall: each logs in,
// looks at a region's room directory, picks a room the way a person would,
// enters it (trying another on ROOM_FULL), takes a seat, plays Dou Dizhu with
// a legal and sensible strategy (strategy.go), chats now and then, leaves
// after a few games and comes back later. Stats collects what a run saw.
package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/protocol/pb"
)

// Config of a bot run. Zero fields take the defaults noted.
type Config struct {
	HallURL string // login and hall base URL (http://127.0.0.1:8080)
	Players int
	// Duration after which players finish their game and leave; 0: until
	// Stop or the context ends.
	Duration time.Duration
	Region   string  // "": each player picks one of the hall's regions
	Ramp     float64 // players started per second (200)
	// Think is the mean time a player takes for a move (1s); each move takes
	// a uniform time in [Think/2, 3·Think/2].
	Think time.Duration
	// Games a player plays per visit: uniform in [MinGames, MaxGames] (2..5).
	MinGames, MaxGames int
	// Break is the mean pause between visits (15s), exponentially distributed.
	Break time.Duration
	// ChatChance is the probability of a table chat after a game (0.1).
	ChatChance float64
	// MaxOnline caps players connected at once (file descriptors); 0: no cap.
	MaxOnline int
	// LeaveGrace: after Duration or Stop, how long players may finish the
	// game they are in before leaving anyway (an escape). Default 60s.
	LeaveGrace time.Duration
	// Prefix of account names (bot-<random hex>).
	Prefix string
	Seed   uint64 // 0: random
	Log    logr.Logger
}

func (c *Config) defaults() error {
	if c.HallURL == "" {
		c.HallURL = "http://127.0.0.1:8080"
	}
	if c.Players <= 0 {
		return fmt.Errorf("players must be positive, got %d", c.Players)
	}
	if c.Ramp <= 0 {
		c.Ramp = 200
	}
	if c.Think <= 0 {
		c.Think = time.Second
	}
	if c.MinGames <= 0 {
		c.MinGames = 2
	}
	if c.MaxGames <= 0 {
		c.MaxGames = 5
	}
	if c.MaxGames < c.MinGames {
		return fmt.Errorf("max games %d is below min games %d", c.MaxGames, c.MinGames)
	}
	if c.Break <= 0 {
		c.Break = 15 * time.Second
	}
	if c.ChatChance < 0 || c.ChatChance > 1 {
		return fmt.Errorf("chat chance %v is outside 0..1", c.ChatChance)
	}
	if c.LeaveGrace <= 0 {
		c.LeaveGrace = 60 * time.Second
	}
	if c.Prefix == "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		c.Prefix = "bot-" + hex.EncodeToString(b[:])
	}
	if len(c.Prefix)+1+len(strconv.Itoa(c.Players)) > 32 {
		return fmt.Errorf("prefix %q is too long for 32-character account names", c.Prefix)
	}
	if c.Seed == 0 {
		c.Seed = mrand.Uint64()
	}
	return nil
}

// Runner is one bot run.
type Runner struct {
	cfg   Config
	stats *Stats
	hall  *hallClient
	log   logr.Logger

	stop     chan struct{} // soft stop: finish the game, leave
	stopOnce sync.Once
	sem      chan struct{} // MaxOnline

	regionsMu sync.Mutex
	regions   []string
	seats     atomic.Int64 // seats per room (tables × 3), learnt on entering one
}

// New checks cfg and prepares a run.
func New(cfg Config) (*Runner, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, stats: NewStats(), hall: newHallClient(cfg.HallURL), log: cfg.Log, stop: make(chan struct{})}
	if cfg.MaxOnline > 0 && cfg.MaxOnline < cfg.Players {
		r.sem = make(chan struct{}, cfg.MaxOnline)
	}
	return r, nil
}

// Stats are the run's live counters.
func (r *Runner) Stats() *Stats { return r.stats }

// Stop asks every player to finish its game and leave.
func (r *Runner) Stop() { r.stopOnce.Do(func() { close(r.stop) }) }

func (r *Runner) stopping() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// Run plays until Duration passes or Stop is called and every player left,
// or until ctx ends (players disconnect at once). It returns the stats and
// an error if there were protocol errors.
func (r *Runner) Run(ctx context.Context) (*Stats, error) {
	defer r.hall.close()
	if r.cfg.Duration > 0 {
		t := time.AfterFunc(r.cfg.Duration, r.Stop)
		defer t.Stop()
	}
	var wg sync.WaitGroup
	start := time.Now()
ramp:
	for i := 0; i < r.cfg.Players; i++ {
		at := start.Add(time.Duration(float64(i) / r.cfg.Ramp * float64(time.Second)))
		if d := time.Until(at); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				break ramp
			case <-r.stop:
				t.Stop()
				break ramp
			}
		}
		p := &player{r: r, account: r.cfg.Prefix + "-" + strconv.Itoa(i), rng: mrand.New(mrand.NewPCG(r.cfg.Seed, uint64(i)))}
		wg.Go(func() { p.run(ctx) })
	}
	wg.Wait()
	if n := r.stats.ProtocolErrs.Load(); n > 0 {
		return r.stats, fmt.Errorf("%d protocol errors", n)
	}
	return r.stats, nil
}

// regionFor picks a region: the configured one, or one of the hall's.
func (r *Runner) regionFor(ctx context.Context, p *player, base, ticket string) (string, error) {
	if r.cfg.Region != "" {
		return r.cfg.Region, nil
	}
	r.regionsMu.Lock()
	names := r.regions
	r.regionsMu.Unlock()
	if len(names) == 0 {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		list, err := r.hall.regions(rctx, base, ticket)
		cancel()
		if err != nil {
			return "", err
		}
		for _, reg := range list {
			names = append(names, reg.Name)
		}
		if len(names) == 0 {
			return "", errors.New("the hall lists no regions")
		}
		r.regionsMu.Lock()
		r.regions = names
		r.regionsMu.Unlock()
	}
	return names[p.rng.IntN(len(names))], nil
}

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
		noSeat := p.play(ctx, conn, room)
		conn.close()
		if !noSeat {
			return
		}
		tried[room] = true
	}
}

// enter chooses a room and enters it, trying others on ROOM_FULL. It returns
// the connection (nil on failure).
func (p *player) enter(ctx context.Context, base, region, ticket string, tried map[int]bool) (*session, int) {
	st := p.r.stats
	var conn *session
	var next []hall.Room // rooms to try before looking at the directory again
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
			dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			c, err := dial(dctx, p.r, addr, ticket)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					// The shard may have just stopped: try another room.
					st.EntryFailures.Add(1)
					p.r.log.V(1).Info("dial failed", "addr", addr, "err", err.Error())
				}
				continue
			}
			conn = c
			if w := c.c.Welcome; w != nil && w.Resumed {
				// A previous visit's seat was still held (its leave timed
				// out): this connection took it over. Leave it; the visit
				// starts afresh.
				st.Resumed.Add(1)
				lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				_ = c.c.LeaveRoom(lctx)
				cancel()
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
			// connection (in its reconnect grace): one room per game is
			// the rule. Come back later.
			st.InOtherRoom.Add(1)
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

// chooseRoom picks a room as a person scanning the list would: never a
// nearly full one (seats go while you click), busy rooms likelier than quiet
// ones but the crowded ones less so, and of the empty rooms only the first
// two in the list, so rooms open one after another rather than all at once.
// seats, when known (from an earlier visit's room: tables × 3), is where a
// room stops having seats even if it admits more people standing. It
// reports false when no room has a seat.
func chooseRoom(rooms []hall.Room, tried map[int]bool, seats int, rng *mrand.Rand) (hall.Room, bool) {
	limit := func(r hall.Room) int {
		if seats > 0 && seats < r.Capacity {
			return seats
		}
		return r.Capacity
	}
	var cands []hall.Room
	var weights []float64
	var empty []hall.Room
	for _, r := range rooms {
		if tried[r.Room] || limit(r) <= 0 || r.Players*100 >= limit(r)*85 {
			continue
		}
		if r.Players == 0 {
			empty = append(empty, r)
			continue
		}
		cands = append(cands, r)
	}
	slices.SortFunc(empty, func(a, b hall.Room) int { return a.Room - b.Room })
	cands = append(cands, empty[:min(2, len(empty))]...)
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

// event is a push with the time the reader goroutine got it.
type event struct {
	env *pb.Envelope
	at  time.Time
}

// session is one shard connection. Pushes are queued without bound by the
// reader goroutine, so a player busy with a request never blocks it.
type session struct {
	c      *client.Conn
	addr   string
	mu     sync.Mutex
	queue  []event
	signal chan struct{}
	closed atomic.Bool
	online *atomic.Int64 // Stats.Online, decremented on close
}

func dial(ctx context.Context, r *Runner, addr, ticket string) (*session, error) {
	s := &session{addr: addr, signal: make(chan struct{}, 1)}
	c, err := client.Dial(ctx, addr, ticket, client.Options{OnEvent: s.push})
	if err != nil {
		return nil, err
	}
	s.c, s.online = c, &r.stats.Online
	s.online.Add(1)
	return s, nil
}

func (s *session) push(env *pb.Envelope) {
	s.mu.Lock()
	s.queue = append(s.queue, event{env, time.Now()})
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *session) take(buf []event) []event {
	s.mu.Lock()
	buf = append(buf[:0], s.queue...)
	clear(s.queue)
	s.queue = s.queue[:0]
	s.mu.Unlock()
	return buf
}

func (s *session) close() {
	if s.closed.CompareAndSwap(false, true) {
		s.c.Close()
		s.online.Add(-1)
	}
}

var chatLines = []string{"gg", "nice one", "well played", "again?", "that bomb!", "lucky cards", "hi all", "ha"}

// play sits down and plays games until the visit ends. It reports true when
// the room had no free seat (the player left it at once).
func (p *player) play(ctx context.Context, s *session, room int) (noSeat bool) {
	st := p.r.stats
	req := func(f func(ctx context.Context) error) error {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return f(rctx)
	}
	chat := func(scope pb.ChatScope, line string) {
		if err := req(func(c context.Context) error { return s.c.Chat(c, scope, line) }); err == nil {
			st.Chats.Add(1)
		} else if ctx.Err() == nil && !s.closed.Load() {
			p.shardFailure("chat", err)
		}
	}
	if p.rng.Float64() < p.r.cfg.ChatChance/2 {
		chat(pb.ChatScope_ROOM, "hello everyone")
	}
	var ts *pb.TableState
	err := req(func(c context.Context) (err error) { ts, err = s.c.QuickSeat(c); return })
	if err != nil {
		noSeat = client.Code(err) == pb.ErrorCode_NO_FREE_SEAT
		if noSeat {
			st.NoSeat.Add(1)
		} else if ctx.Err() == nil && !s.closed.Load() {
			p.shardFailure("quick seat", err)
		}
		_ = req(func(c context.Context) error { return s.c.LeaveRoom(c) })
		return noSeat
	}
	st.Seated.Add(1)
	defer st.Seated.Add(-1)
	var v View
	v.Reset(ts)

	target := p.r.cfg.MinGames + p.rng.IntN(p.r.cfg.MaxGames-p.r.cfg.MinGames+1)
	games := 0
	leaving := false       // leave as soon as no game runs
	var leaveBy time.Time  // after a stop: escape if the game still runs then
	var moveSent time.Time // when our last move went out, for delivery latency
	var moveKind pb.GameEventKind
	needReady := true
	timer := time.NewTimer(p.think() / 4) // the first Ready comes quickly
	ping := time.NewTicker(10 * time.Second)
	defer timer.Stop()
	defer ping.Stop()
	lastSent := time.Now()
	stop := p.r.stop
	var buf []event

	leave := func() {
		_ = req(func(c context.Context) error { return s.c.LeaveRoom(c) })
		st.Visits.Add(1)
	}
	// handle applies the queued pushes; it reports true when the visit is over.
	handle := func() bool {
		buf = s.take(buf)
		for _, e := range buf {
			switch m := e.env.Msg.(type) {
			case *pb.Envelope_GameEvent:
				ev := m.GameEvent
				if int(ev.Table) != v.Table || !v.Apply(ev) {
					continue
				}
				if int(ev.Seat) == v.MySeat && !moveSent.IsZero() &&
					(ev.Kind == pb.GameEventKind_BID || ev.Kind == pb.GameEventKind_PLAY || ev.Kind == pb.GameEventKind_PASS) {
					if ev.Auto {
						st.AutoMoves.Add(1)
					} else if ev.Kind == moveKind || (moveKind == pb.GameEventKind_PLAY && ev.Kind == pb.GameEventKind_PASS) {
						st.MoveDelivery.Record(e.at.Sub(moveSent))
					}
					moveSent = time.Time{}
				}
				switch ev.Kind {
				case pb.GameEventKind_TURN:
					if v.MyTurn() {
						timer.Reset(p.think())
					}
				case pb.GameEventKind_GAME_OVER, pb.GameEventKind_ESCAPE:
					p.gameOver(ev, v.MySeat)
					games++
					if games >= target {
						leaving = true
					}
					if leaving {
						if p.rng.Float64() < p.r.cfg.ChatChance {
							chat(pb.ChatScope_TABLE, "bye, gg")
						}
						leave()
						return true
					}
					if p.rng.Float64() < p.r.cfg.ChatChance {
						chat(pb.ChatScope_TABLE, chatLines[p.rng.IntN(len(chatLines))])
					}
					needReady = true
					timer.Reset(p.think())
				}
			case *pb.Envelope_Kicked:
				st.ProtocolError("kicked: " + m.Kicked.Reason)
				return true
			}
		}
		return false
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-s.c.Done():
			if !s.closed.Load() && ctx.Err() == nil {
				st.Dropped.Add(1)
				p.r.log.V(1).Info("connection lost", "account", p.account, "err", fmt.Sprint(s.c.Err()))
			}
			return false
		case <-stop:
			stop = nil
			leaving = true
			leaveBy = time.Now().Add(p.r.cfg.LeaveGrace)
			if v.Phase == pb.GamePhase_WAITING || v.Phase == pb.GamePhase_GAME_PHASE_UNSPECIFIED {
				leave()
				return false
			}
		case <-ping.C:
			if !leaveBy.IsZero() && time.Now().After(leaveBy) {
				leave() // an escape: the game went on too long after the stop
				return false
			}
			if time.Since(lastSent) >= 10*time.Second {
				var rtt time.Duration
				if err := req(func(c context.Context) (err error) { rtt, err = s.c.Ping(c); return }); err == nil {
					st.Ping.Record(rtt)
				}
				lastSent = time.Now()
			}
		case <-s.signal:
			if handle() {
				return false
			}
		case <-timer.C:
			// Apply what arrived meanwhile first: acting on an old view
			// would bid after the bidding ended, for instance.
			if handle() {
				return false
			}
			if needReady && v.Phase == pb.GamePhase_WAITING {
				needReady = false
				err := req(func(c context.Context) error { return s.c.Ready(c) })
				lastSent = time.Now()
				if err != nil && client.Code(err) != pb.ErrorCode_GAME_IN_PROGRESS {
					if ctx.Err() == nil && !s.closed.Load() {
						p.shardFailure("ready", err)
					}
					return false
				}
				continue
			}
			if !v.MyTurn() {
				continue
			}
			bid, cards := v.Choose()
			moveNo := v.MoveNo
			moveSent = time.Now()
			lastSent = moveSent
			var err error
			if v.Phase == pb.GamePhase_BIDDING {
				moveKind = pb.GameEventKind_BID
				err = req(func(c context.Context) error { return s.c.Bid(c, bid) })
			} else {
				moveKind = pb.GameEventKind_PLAY
				if cards == nil {
					moveKind = pb.GameEventKind_PASS
				}
				err = req(func(c context.Context) error { return s.c.Play(c, cardBytes(cards)) })
			}
			if err == nil {
				st.Moves.Add(1)
				continue
			}
			moveSent = time.Time{}
			// The answer comes after any events the server sent before it,
			// so they are queued by now: if the game moved on without us,
			// the turn timer played for us and the move was late, not wrong.
			if handle() {
				return false
			}
			late := v.MoveNo != moveNo
			switch code := client.Code(err); {
			case late, code == pb.ErrorCode_NOT_YOUR_TURN, code == pb.ErrorCode_NO_GAME:
				st.LateMoves.Add(1)
			default:
				if ctx.Err() == nil && !s.closed.Load() {
					p.shardFailure("move", err)
					if pe := (*client.Error)(nil); errors.As(err, &pe) {
						p.r.log.Info("move refused", "account", p.account, "code", pe.Code.String(), "msg", pe.Message,
							"phase", v.Phase.String(), "hand", fmt.Sprint(v.Hand), "last", fmt.Sprint(v.Last), "play", fmt.Sprint(cards))
					}
				}
			}
		}
	}
}

// gameOver checks the scores and counts the game once per table: by seat
// 0, or for an escape by the lowest seat that did not escape.
func (p *player) gameOver(ev *pb.GameEvent, mySeat int) {
	st := p.r.stats
	counter := 0
	if ev.Kind == pb.GameEventKind_ESCAPE && ev.Seat == 0 {
		counter = 1
	}
	if mySeat != counter {
		return
	}
	st.Games.Add(1)
	if ev.Kind == pb.GameEventKind_ESCAPE {
		st.Escapes.Add(1)
	}
	sum := int64(0)
	for _, s := range ev.Scores {
		sum += int64(s)
	}
	if len(ev.Scores) == 3 && sum == 0 {
		st.ZeroSum.Add(1)
	} else {
		st.NonZeroSum.Add(1)
		st.ProtocolError(fmt.Sprintf("game over with scores %v (sum %d)", ev.Scores, sum))
	}
}
