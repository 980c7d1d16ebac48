package gameserver

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gamehall/gamehall/protocol"
	"github.com/gamehall/gamehall/protocol/pb"
	"github.com/gamehall/gamehall/store"
)

// Settlement. A finished game is paid in one store transaction keyed by its
// id. Its GAME_OVER (or ESCAPE) goes out only once the transaction commits,
// carrying each seat's new balance: what the players are told is what the
// database holds. If the store does not answer within SettleWait, GAME_OVER
// goes out SETTLEMENT_PENDING and the shard keeps the result in its backlog,
// retrying until it commits (then a Settled push follows). A retry never pays
// twice: the store answers a settled id with the balances it left. While the
// backlog is full, tables start no new games.

// finishedGame is a game over, waiting for its settlement and its GAME_OVER.
type finishedGame struct {
	table    *table
	event    *pb.GameEvent // GAME_OVER or ESCAPE
	accounts []string      // by seat
	settle   store.Settlement
	ended    time.Time
	attempts int

	mu        sync.Mutex // orders the GAME_OVER before a Settled push
	announced bool
	timer     *time.Timer
}

// settler pays finished games out with a few workers and retries failures
// with backoff, without limit: a result is given up only on shutdown.
type settler struct {
	s       *Server
	store   Settler
	log     logr.Logger
	queue   []*finishedGame
	mu      sync.Mutex
	wake    chan struct{}
	backlog atomic.Int64 // submitted, not yet settled (or given up)
	failing atomic.Bool  // the last attempt failed: log once per outage
	waiting map[*finishedGame]struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

const settleWorkers = 4

func newSettler(s *Server, st Settler) *settler {
	return &settler{s: s, store: st, log: s.log.WithName("settle"), wake: make(chan struct{}, settleWorkers), waiting: map[*finishedGame]struct{}{}}
}

func (st *settler) start() {
	ctx, cancel := context.WithCancel(context.Background())
	st.cancel = cancel
	for range settleWorkers {
		st.wg.Go(func() { st.work(ctx) })
	}
}

// full reports whether new games must wait: the backlog is at its bound.
func (st *settler) full() bool { return st.backlog.Load() >= int64(st.s.cfg.SettleBacklog) }

// submit takes a finished game; it never blocks (callers hold a room lock).
func (st *settler) submit(g *finishedGame) {
	st.backlog.Add(1)
	st.s.metrics.settleBacklog.Inc()
	g.mu.Lock() // the timer may fire before the assignment is done
	g.timer = time.AfterFunc(st.s.cfg.SettleWait, func() { st.s.announce(g, pb.SettlementState_SETTLEMENT_PENDING, nil) })
	g.mu.Unlock()
	st.push(g)
}

func (st *settler) push(g *finishedGame) {
	st.mu.Lock()
	st.queue = append(st.queue, g)
	delete(st.waiting, g)
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

func (st *settler) next(ctx context.Context) *finishedGame {
	for {
		st.mu.Lock()
		if len(st.queue) > 0 {
			g := st.queue[0]
			st.queue[0] = nil
			st.queue = st.queue[1:]
			st.mu.Unlock()
			return g
		}
		st.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-st.wake:
		}
	}
}

func (st *settler) work(ctx context.Context) {
	for g := st.next(ctx); g != nil; g = st.next(ctx) {
		st.attempt(ctx, g)
	}
}

func (st *settler) attempt(ctx context.Context, g *finishedGame) {
	m := st.s.metrics
	g.attempts++
	actx, cancel := context.WithTimeout(ctx, st.s.cfg.SettleAttemptTimeout)
	start := time.Now()
	res, err := st.store.Settle(actx, g.settle)
	cancel()
	switch {
	case err == nil:
		m.settleCommit.Observe(time.Since(start).Seconds())
		m.settleLatency.Observe(time.Since(g.ended).Seconds())
		result := "settled"
		if res.Replayed {
			result = "replayed"
		}
		m.settlements.WithLabelValues(result).Inc()
		if st.failing.Swap(false) {
			st.log.Info("settlements resumed", "backlog", st.backlog.Load())
		}
		st.finish(g)
		st.s.announce(g, pb.SettlementState_SETTLED, res.Coins)
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrConflict):
		// Retrying cannot help: a bug, which the log must show.
		m.settlements.WithLabelValues("failed").Inc()
		st.log.Error(err, "settlement refused by the store; the game does not count", "game", g.settle.GameID)
		st.finish(g)
		st.s.announce(g, pb.SettlementState_SETTLEMENT_FAILED, nil)
	default:
		m.settlements.WithLabelValues("retry").Inc()
		if !st.failing.Swap(true) {
			st.log.Error(err, "settlement failed; results are kept and retried", "game", g.settle.GameID, "backlog", st.backlog.Load())
		}
		if ctx.Err() != nil {
			st.giveUp(g)
			return
		}
		st.mu.Lock()
		st.waiting[g] = struct{}{}
		st.mu.Unlock()
		time.AfterFunc(backoff(g.attempts), func() { st.push(g) })
	}
}

// backoff is the wait before the n-th retry: 100ms doubling to 5s.
func backoff(n int) time.Duration {
	return min(100*time.Millisecond<<min(n-1, 6), 5*time.Second)
}

func (st *settler) finish(g *finishedGame) {
	st.backlog.Add(-1)
	st.s.metrics.settleBacklog.Dec()
}

func (st *settler) giveUp(g *finishedGame) {
	st.finish(g)
	st.s.metrics.settlements.WithLabelValues("lost").Inc()
	st.log.Error(nil, "shutting down with a game unsettled: it does not count", "game", g.settle.GameID, "accounts", g.accounts)
}

// close waits up to timeout for the backlog to be settled, then stops the
// workers and names the games it gives up.
func (st *settler) close(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	if n := st.backlog.Load(); n > 0 {
		st.log.Info("waiting for settlements before exiting", "backlog", n, "timeout", timeout)
	}
	for st.backlog.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	st.cancel()
	st.wg.Wait()
	st.mu.Lock()
	left := append(st.queue, keys(st.waiting)...)
	st.queue, st.waiting = nil, map[*finishedGame]struct{}{}
	st.mu.Unlock()
	for _, g := range left {
		st.giveUp(g)
	}
}

func keys(m map[*finishedGame]struct{}) []*finishedGame {
	out := make([]*finishedGame, 0, len(m))
	for g := range m {
		out = append(out, g)
	}
	return out
}

// announce tells the game's players how it was settled: the first call sends
// GAME_OVER (settled with the new balances, pending, or failed) and frees the
// table for its next game; a commit after a pending GAME_OVER sends Settled.
func (s *Server) announce(g *finishedGame, state pb.SettlementState, coins []int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.announced {
		if state == pb.SettlementState_SETTLED {
			b := protocol.MustMarshal(&pb.Envelope{Msg: &pb.Envelope_Settled{Settled: &pb.Settled{
				GameId: g.settle.GameID, Room: g.table.room.num, Table: g.table.num, Accounts: g.accounts, Balances: coins,
			}}})
			for _, c := range s.connsOf(g.accounts) {
				c.send(b, 0) // a late notice: not a delivery to measure
			}
		}
		return
	}
	g.announced = true
	if g.timer != nil {
		g.timer.Stop()
	}
	if state == pb.SettlementState_SETTLEMENT_PENDING {
		s.metrics.settlePending.Inc()
	}
	g.event.Settlement, g.event.Balances = state, coins
	b := protocol.MustMarshal(&pb.Envelope{Msg: &pb.Envelope_GameEvent{GameEvent: g.event}})
	conns := s.connsOf(g.accounts)
	r := g.table.room
	r.mu.Lock()
	defer r.mu.Unlock()
	at := time.Now().UnixNano()
	for _, c := range conns {
		c.send(b, at)
	}
	g.table.settling = false
	g.table.maybeStartLocked()
}

// connsOf returns the live connections of the accounts on this shard.
func (s *Server) connsOf(accounts []string) []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*conn
	for _, a := range accounts {
		if p := s.players[a]; p != nil {
			if c := p.conn.Load(); c != nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// settleMetrics are the settlement's series on the shard's registry.
type settleMetrics struct {
	settlements   *prometheus.CounterVec
	settleCommit  prometheus.Histogram
	settleLatency prometheus.Histogram
	settleBacklog prometheus.Gauge
	settlePending prometheus.Counter
}

func newSettleMetrics() settleMetrics {
	buckets := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := settleMetrics{
		settlements: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gamehall_settlements_total",
			Help: "Settlement attempts by result: settled, replayed (already settled: a retry), retry (store failed; kept and retried), failed (refused), lost (given up at shutdown)."}, []string{"result"}),
		settleCommit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gamehall_settlement_commit_seconds",
			Help: "Time of one successful settlement transaction.", Buckets: buckets}),
		settleLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gamehall_settlement_latency_seconds",
			Help: "From a game's end to its settlement committing (retries included): how long GAME_OVER waits.", Buckets: buckets}),
		settleBacklog: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gamehall_settlement_backlog",
			Help: "Finished games not yet settled. New games wait while it is at --settle-backlog."}),
		settlePending: prometheus.NewCounter(prometheus.CounterOpts{Name: "gamehall_settlement_pending_total",
			Help: "Games whose GAME_OVER went out before the settlement committed (SETTLEMENT_PENDING)."}),
	}
	for _, r := range []string{"settled", "replayed", "retry", "failed", "lost"} {
		m.settlements.WithLabelValues(r)
	}
	return m
}

func (m settleMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.settlements, m.settleCommit, m.settleLatency, m.settleBacklog, m.settlePending}
}
