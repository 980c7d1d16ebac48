// Package hall serves the room directory: regions, a versioned snapshot of
// a region's rooms, and a WebSocket that streams the snapshot and then
// deltas. It learns which shards exist from a ShardSource, follows each
// ready shard's occupancy stream, and redirects clients to a less loaded
// replica when over its client limit.
package hall

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/ticket"
	"github.com/gamehall/gamehall/web"
)

// Config of a hall replica.
type Config struct {
	// Name is the replica's identity among its peers (the pod name).
	Name string
	// AdvertiseURL is the base URL clients use to reach this replica; it
	// is published to peers for redirects. "" disables advertising.
	AdvertiseURL string
	// MaxClients is the number of watchers this replica serves before it
	// redirects new clients (0: no limit).
	MaxClients int
	// DeltaInterval is how often changes are published and sent to
	// watchers (200ms): shorter cuts latency, longer cuts messages per
	// watcher. A watcher gets at most one message per interval.
	DeltaInterval time.Duration
	// MaxWatchMessages bounds the messages a second the replica writes to
	// all its watchers (50,000): with more watchers than
	// MaxWatchMessages × DeltaInterval each gets a message less often.
	MaxWatchMessages int
	// PageSize is how many room numbers a page of the watch stream spans (25).
	PageSize int
	// FeedIdleTimeout: an occupancy stream silent this long is dropped
	// (7s: shards send a heartbeat every 3s, so two may be lost).
	FeedIdleTimeout time.Duration
	// AdvertiseEvery is the peer heartbeat period (2s; TTL is 3×).
	AdvertiseEvery time.Duration
	// ServiceTicketTTL is the life of the tickets the hall mints for shards (1h).
	ServiceTicketTTL time.Duration
	// WriteTimeout bounds one write to a watcher (10s); a slower client is dropped.
	WriteTimeout time.Duration
	// PingInterval: each watcher is pinged this often (30s), which keeps
	// idle connections alive through proxies and finds dead clients; what
	// the client sent (pongs, close) is read then.
	PingInterval time.Duration
	// MetricsURL is where this replica's /metrics is served (its internal
	// port), linked from the ops view; "" links none.
	MetricsURL string
	// MaxWatchersPerAccount: watch streams one account may hold open on
	// this replica (8: a few tabs); past it 429 TOO_MANY_WATCHERS, so one
	// ticket cannot take the replica's whole client limit.
	MaxWatchersPerAccount int
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DeltaInterval, 200*time.Millisecond)
	def(&c.FeedIdleTimeout, 7*time.Second)
	def(&c.AdvertiseEvery, 2*time.Second)
	def(&c.ServiceTicketTTL, time.Hour)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.PingInterval, 30*time.Second)
	if c.MaxWatchMessages <= 0 {
		c.MaxWatchMessages = 50000
	}
	if c.PageSize <= 0 {
		c.PageSize = 25
	}
	if c.MaxWatchersPerAccount <= 0 {
		c.MaxWatchersPerAccount = 8
	}
	if c.Name == "" {
		c.Name = "hall"
	}
}

// Deps are the parts a hall uses.
type Deps struct {
	Keys     *ticket.Keyring // verifies player tickets, signs service tickets
	Presence presence.Store  // peers for redirects; readiness
	Source   ShardSource
	Dial     Dialer // opens shards' occupancy streams
	Log      logr.Logger
	Metrics  prometheus.Registerer // nil: not registered
}

// Server is a hall replica.
type Server struct {
	cfg  Config
	deps Deps
	log  logr.Logger
	dir  *directory
	m    metrics

	clients atomic.Int64 // connected watchers

	mu        sync.Mutex
	followers map[string]*follower
	synced    bool // first topology seen
	runCtx    context.Context

	ops opsLog // the operator's view: topology changes

	watchMu      sync.Mutex
	watchSets    map[*region]*watchSet
	accounts     accountWatchers
	watchStopped bool

	peersMu sync.Mutex
	peers   []presence.Peer
	storeOK bool
}

type metrics struct {
	watchers     prometheus.Gauge
	deltasSent   prometheus.Counter
	watchStalls  prometheus.Counter
	snapshots    *prometheus.CounterVec
	lag          prometheus.Histogram
	streams      prometheus.Gauge
	streamErrors prometheus.Counter
	redirects    *prometheus.CounterVec
	rooms        prometheus.GaugeFunc
	sessions     prometheus.Gauge
}

// New returns a hall; call Run to start following shards.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg.defaults()
	switch {
	case deps.Keys == nil:
		return nil, errors.New("hall: no ticket keys")
	case deps.Source == nil:
		return nil, errors.New("hall: no shard source")
	case deps.Dial == nil:
		return nil, errors.New("hall: no occupancy dialer")
	case deps.Presence == nil:
		return nil, errors.New("hall: no presence store")
	}
	var eb [4]byte
	rand.Read(eb[:])
	h := &Server{
		cfg: cfg, deps: deps, log: deps.Log,
		dir:       newDirectory(hex.EncodeToString(eb[:]), cfg.PageSize),
		followers: map[string]*follower{},
		watchSets: map[*region]*watchSet{},
	}
	h.m = metrics{
		watchers:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "gamehall_hall_watchers", Help: "Connected directory watchers (WebSockets)."}),
		deltasSent: prometheus.NewCounter(prometheus.CounterOpts{Name: "gamehall_hall_deltas_sent_total", Help: "Delta messages written to watchers."}),
		watchStalls: prometheus.NewCounter(prometheus.CounterOpts{Name: "gamehall_hall_watch_stalls_total",
			Help: "Writes to a watcher whose socket did not take the whole message at once (finished on a goroutine of their own)."}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gamehall_hall_snapshots_total", Help: "Snapshots served, by kind (rooms = GET, watch = stream start or catch-up)."}, []string{"kind"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gamehall_hall_directory_lag_seconds", Help: "From the hall receiving a shard's change to writing it to a watcher (add the shard's batching, at most 250ms).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		streams:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "gamehall_hall_occupancy_streams", Help: "Shard occupancy streams connected."}),
		streamErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "gamehall_hall_occupancy_stream_errors_total", Help: "Occupancy streams lost or failed to connect."}),
		redirects:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gamehall_hall_redirects_total", Help: "Clients turned away, by outcome: over max clients (redirect, full), over the watch streams one account may hold (account_limit)."}, []string{"outcome"}),
		sessions:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "gamehall_active_sessions", Help: "Live login sessions in presence (all replicas), refreshed at each advertise."}),
		rooms: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gamehall_hall_rooms", Help: "Rooms offered in the directory."}, func() float64 {
			return float64(h.roomCount())
		}),
	}
	if deps.Metrics != nil {
		for _, c := range []prometheus.Collector{h.m.watchers, h.m.deltasSent, h.m.watchStalls, h.m.snapshots, h.m.lag, h.m.streams, h.m.streamErrors, h.m.redirects, h.m.rooms, h.m.sessions} {
			if err := deps.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("hall: metrics: %w", err)
			}
		}
	}
	return h, nil
}

func (h *Server) roomCount() int {
	h.dir.mu.RLock()
	defer h.dir.mu.RUnlock()
	n := 0
	for _, r := range h.dir.regions {
		n += r.rooms
	}
	return n
}

// Run follows the shard source and the shards, publishes deltas and
// advertises the replica, until ctx ends.
func (h *Server) Run(ctx context.Context) error {
	h.mu.Lock()
	h.runCtx = ctx
	h.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { h.publishLoop(ctx) })
	wg.Go(func() { h.advertiseLoop(ctx) })
	for t := range h.deps.Source.Watch(ctx) {
		h.apply(ctx, t)
	}
	h.mu.Lock()
	for name, f := range h.followers {
		f.cancel()
		<-f.done
		delete(h.followers, name)
	}
	h.mu.Unlock()
	wg.Wait()
	h.closeWatchers()
	return nil
}

// closeWatchers tells every watcher the hall is going away and closes it;
// watch streams are hijacked connections that http.Server.Shutdown does not
// close.
func (h *Server) closeWatchers() {
	h.watchMu.Lock()
	h.watchStopped = true
	sets := h.watchSets
	h.watchSets = map[*region]*watchSet{}
	h.watchMu.Unlock()
	for _, s := range sets {
		s.closeAll(closeGoingAway, "hall stopping")
	}
}

// apply reconciles followers with a new topology: a shard is followed while
// it is ready, not draining, in a listed region and has an internal URL.
func (h *Server) apply(ctx context.Context, t Topology) {
	h.ops.observe(t, time.Now())
	h.dir.setRegions(t.Regions)
	regions := map[string]bool{}
	for _, r := range t.Regions {
		regions[r.Name] = true
	}
	want := map[string]ShardInfo{}
	for _, s := range t.Shards {
		if s.Ready && !s.Draining && s.InternalURL != "" && regions[s.Region] {
			want[s.Name] = s
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.synced = true
	for name, f := range h.followers {
		if info, ok := want[name]; ok && info == f.info {
			continue
		}
		// Gone, not ready, draining or moved: its rooms leave the
		// directory now, not when the stream notices.
		f.cancel()
		h.dir.mu.Lock()
		delete(h.dir.owners, name)
		h.dir.mu.Unlock()
		h.dir.setShard(nil, f.info.Region, name, nil, time.Now())
		delete(h.followers, name)
	}
	for name, info := range want {
		if _, ok := h.followers[name]; ok {
			continue
		}
		fctx, cancel := context.WithCancel(ctx)
		f := &follower{h: h, info: info, cancel: cancel, done: make(chan struct{})}
		h.followers[name] = f
		h.dir.mu.Lock()
		h.dir.owners[name] = f
		h.dir.mu.Unlock()
		go f.run(fctx)
	}
}

func (h *Server) publishLoop(ctx context.Context) {
	t := time.NewTicker(h.cfg.DeltaInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.dir.publish()
			h.fanout(time.Now())
		}
	}
}

// advertiseLoop publishes this replica's load and refreshes the peer list
// used for redirects.
func (h *Server) advertiseLoop(ctx context.Context) {
	t := time.NewTicker(h.cfg.AdvertiseEvery)
	defer t.Stop()
	for {
		h.advertiseOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *Server) advertiseOnce(ctx context.Context) {
	c, cancel := context.WithTimeout(ctx, h.cfg.AdvertiseEvery)
	defer cancel()
	var err error
	if h.cfg.AdvertiseURL != "" {
		err = h.deps.Presence.Advertise(c, presence.Peer{
			Name: h.cfg.Name, Address: h.cfg.AdvertiseURL, Clients: int(h.clients.Load()), Max: h.cfg.MaxClients,
		}, 3*h.cfg.AdvertiseEvery)
	}
	var peers []presence.Peer
	if err == nil {
		peers, err = h.deps.Presence.Peers(c)
	}
	if sc, ok := h.deps.Presence.(interface {
		ActiveSessions(context.Context) (int, error)
	}); ok && err == nil {
		if n, err := sc.ActiveSessions(c); err == nil {
			h.m.sessions.Set(float64(n))
			h.ops.sessions.Store(int64(n))
		}
	} else {
		h.ops.sessions.Store(-1)
	}
	h.peersMu.Lock()
	defer h.peersMu.Unlock()
	h.storeOK = err == nil
	if err != nil {
		if ctx.Err() == nil {
			h.log.Error(err, "advertising to presence")
		}
		return
	}
	h.peers = peers
}

// Register mounts the hall's routes on mux.
func (h *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("/v1/regions", cors(h.handleRegions))
	mux.HandleFunc("/v1/regions/{name}/rooms", cors(h.handleRooms))
	mux.HandleFunc("/v1/regions/{name}/watch", h.handleWatch)
	mux.HandleFunc("/v1/ops", h.handleOps)
	web.Register(mux)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		login.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/readyz", h.handleReady)
}

// Handler returns a handler serving only the hall's routes.
func (h *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	h.Register(mux)
	return mux
}

func (h *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	synced := h.synced
	h.mu.Unlock()
	var storeErr error
	if p, ok := h.deps.Presence.(interface{ Ping(context.Context) error }); ok {
		c, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		storeErr = p.Ping(c)
		cancel()
	}
	switch {
	case !synced:
		login.WriteError(w, http.StatusServiceUnavailable, codeNotSynced, "the shard source has not delivered the topology yet")
	case storeErr != nil:
		login.WriteError(w, http.StatusServiceUnavailable, login.CodePresenceUnavailable, storeErr.Error())
	default:
		login.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// cors lets lobby pages served by a peer replica call this one after a
// redirect. Tickets travel in the Authorization header, never in cookies,
// so any origin may ask.
func cors(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Set("Access-Control-Allow-Methods", "GET")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next(w, r)
	}
}
