// Package local runs the whole platform in one process: login, the hall, and
// the game-server shards of every Region, from the same Region objects
// `kubectl apply` takes. Each Region is scaled by the operator's own policy
// (package scaling): a shard is a gameserver.Server on a free loopback port,
// "create" starts one, "drain" takes it out of the hall's directory and
// tells it to refuse new players (it stops by itself once empty), "undrain"
// puts it back, "delete" stops it at its drain timeout.
package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	v1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/internal/httpserver"
	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/scaling"
	"github.com/gamehall/gamehall/store"
	"github.com/gamehall/gamehall/ticket"
)

// Config of local mode. Zero fields take the defaults noted.
type Config struct {
	Regions []v1.Region
	// Listen is the address of login and the hall (127.0.0.1:8080).
	Listen string
	// InternalListen is the address of /metrics and /debug/pprof
	// (127.0.0.1:0: a free port, see InternalURL).
	InternalListen string
	// ShardHost is the interface shards listen on and the address the hall
	// hands to clients (127.0.0.1).
	ShardHost string
	// Presence is the presence store; nil: an in-memory one, closed by Run.
	Presence presence.Store
	// ScaleEvery is how often each Region's scaling policy runs (1s).
	ScaleEvery time.Duration
	// ShutdownGrace is how long shutdown waits for players to leave drained
	// shards before disconnecting them (10s).
	ShutdownGrace time.Duration
	// Shard, if set, adjusts each shard's configuration before it starts
	// (tests make bots' moves unthrottled, for instance).
	Shard func(*gameserver.Config)
	// DataDir keeps the players' data in SQLite files across restarts: the
	// login's accounts in <AccountsDatabase>.db, each Region's balances and
	// game records in <its database Secret's name>.db, or in the login's
	// file when it names none. Empty: no database (games are not rated).
	DataDir string
	// AccountsDatabase names the login's database file ("gamehall" if empty;
	// `gamehall local` takes it from a Hall's login.accountsDatabase).
	AccountsDatabase string
	// Hall, if set, adjusts the hall's configuration before it starts (a
	// test gives it a client limit so that it redirects to a peer).
	Hall func(*hall.Config)
	// KeyDir holds the ticket keys as `gamehall keys` writes them (signing/
	// and verification/), re-read every KeyReload (ticket.DefaultReload):
	// login and the hall load both, the shards the verification keys only.
	// Empty: one fresh key per run.
	KeyDir    string
	KeyReload time.Duration
	Log       logr.Logger
}

// Local is the running platform.
type Local struct {
	cfg     Config
	log     logr.Logger
	keys    *ticket.Keyring // login and the hall: signs and verifies
	verify  *ticket.KeySet  // the shards: public keys only
	store   presence.Store
	ownPres bool
	source  *hall.StaticSource
	hall    *hall.Server
	dbs     *store.Pool // nil without DataDir
	acctDSN string
	httpSrv *http.Server
	ln      net.Listener
	hallURL string
	intSrv  *http.Server // metrics and profiles
	intLn   net.Listener
	stopNow chan struct{}
	stopped sync.Once

	mu      sync.Mutex
	regions []*region // in Config order
	closing bool      // shutdown started: the hall lists nothing more
	wg      sync.WaitGroup
}

type region struct {
	spec       v1.Region
	dsn        string // its database ("": not rated)
	policy     scaling.Policy
	shards     map[int32]*shard
	belowSince time.Time
	last       scaling.Decision
	peak       int   // most serving shards seen
	created    int64 // shards started since the beginning
	deleted    int64
}

type shard struct {
	index        int32
	name         string
	srv          *gameserver.Server
	cancel       context.CancelFunc
	done         chan struct{} // closed when Run returned
	draining     bool          // out of the directory (scaling's drain)
	drainStarted time.Time
	stopping     bool // deleted: Drain called, waiting for Run to return
}

// New checks the configuration and builds the platform; Start binds it.
func New(cfg Config) (*Local, error) {
	if len(cfg.Regions) == 0 {
		return nil, errors.New("local: no Regions")
	}
	if cfg.InternalListen == "" {
		cfg.InternalListen = "127.0.0.1:0"
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8080"
	}
	if cfg.ShardHost == "" {
		cfg.ShardHost = "127.0.0.1"
	}
	if cfg.ScaleEvery <= 0 {
		cfg.ScaleEvery = time.Second
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	l := &Local{cfg: cfg, log: cfg.Log, store: cfg.Presence, source: hall.NewStaticSource(), stopNow: make(chan struct{})}
	names := map[string]bool{}
	for _, r := range cfg.Regions {
		if names[r.Name] {
			return nil, fmt.Errorf("local: Region %q given twice", r.Name)
		}
		names[r.Name] = true
		p := scaling.PolicyOf(&r)
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("local: Region %q: %w", r.Name, err)
		}
		l.regions = append(l.regions, &region{spec: r, policy: p, shards: map[int32]*shard{}})
	}
	if err := l.loadKeys(); err != nil {
		return nil, err
	}
	if cfg.DataDir != "" {
		l.dbs = store.NewPool(store.Options{Migrate: true})
		l.acctDSN = l.databaseURL(cfg.AccountsDatabase)
		for _, r := range l.regions {
			r.dsn = l.acctDSN
			if d := r.spec.Spec.Database; d != nil {
				r.dsn = l.databaseURL(d.SecretName)
			}
		}
	}
	return l, nil
}

// databaseURL is the SQLite file standing in for the database a Secret names.
func (l *Local) databaseURL(secretName string) string {
	if secretName == "" {
		secretName = "gamehall"
	}
	return "sqlite:" + filepath.Join(l.cfg.DataDir, secretName+".db")
}

// Databases lists the files local mode keeps its data in: the login's, then
// each Region's (several may share one).
func (l *Local) Databases() (accounts string, regions map[string]string) {
	regions = map[string]string{}
	for _, r := range l.regions {
		regions[r.spec.Name] = r.dsn
	}
	return l.acctDSN, regions
}

// openDatabases opens (and migrates) every database before anyone plays, so
// a file that cannot be written is an error at start.
func (l *Local) openDatabases(ctx context.Context) error {
	if l.dbs == nil {
		return nil
	}
	for _, dsn := range append([]string{l.acctDSN}, l.regionDSNs()...) {
		if _, err := l.dbs.Get(dsn).Get(ctx); err != nil {
			return fmt.Errorf("data directory %s: %w", l.cfg.DataDir, err)
		}
	}
	return nil
}

func (l *Local) regionDSNs() []string {
	var out []string
	for _, r := range l.regions {
		if r.dsn != "" {
			out = append(out, r.dsn)
		}
	}
	return out
}

// Start binds the hall's address (the error says so when it is in use),
// starts login and the hall and the minimum shards of every Region. Run
// serves afterwards.
func (l *Local) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", l.cfg.Listen)
	if err != nil {
		return fmt.Errorf("hall address %s: %w (use --listen to pick another)", l.cfg.Listen, unwrapSyscall(err))
	}
	l.ln = ln
	l.hallURL = "http://" + ln.Addr().String()
	if l.intLn, err = net.Listen("tcp", l.cfg.InternalListen); err != nil {
		ln.Close()
		return fmt.Errorf("internal address %s: %w (use --internal-listen to pick another)", l.cfg.InternalListen, unwrapSyscall(err))
	}
	if l.store == nil {
		l.store, l.ownPres = presence.NewMemory(), true
	}
	if err := l.openDatabases(ctx); err != nil {
		l.closeEarly()
		return err
	}
	var accounts store.Accounts
	if l.dbs != nil {
		accounts = l.dbs.Get(l.acctDSN)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Local mode serves one machine: its bots all log in as guests from one
	// address, so guests have no per-address budget here.
	ls, err := login.New(login.Config{Guest: true, HallURL: l.hallURL, GuestBurst: 1 << 30},
		login.Deps{Keys: l.keys, Presence: l.store, Store: accounts, Log: l.log.WithName("login"), Metrics: reg})
	if err != nil {
		l.closeEarly()
		return err
	}
	hcfg := hall.Config{Name: "local", AdvertiseURL: l.hallURL, MetricsURL: l.InternalURL() + "/metrics"}
	if l.cfg.Hall != nil {
		l.cfg.Hall(&hcfg)
	}
	hs, err := hall.New(hcfg,
		hall.Deps{Keys: l.keys, Presence: l.store, Source: l.source, Dial: hall.DialShard, Log: l.log.WithName("hall"), Metrics: reg})
	if err != nil {
		l.closeEarly()
		return err
	}
	l.hall = hs
	ps, err := l.profilesOf(hs, reg)
	if err != nil {
		l.closeEarly()
		return err
	}
	mux := http.NewServeMux()
	ls.Register(mux)
	hs.Register(mux)
	ps.Register(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		login.WriteError(w, http.StatusNotFound, login.CodeNotFound, "no such endpoint: "+r.URL.Path)
	})
	l.httpSrv = httpserver.New(mux)
	// Profiles help find where a load test spends its time; with the
	// metrics they are on the internal address, as on Kubernetes.
	l.intSrv = httpserver.NewInternal(reg)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.regions {
		if err := l.scaleLocked(ctx, r, time.Now()); err != nil {
			l.stopShardsLocked()
			l.closeEarly()
			return err
		}
	}
	l.publishLocked()
	return nil
}

func (l *Local) closeEarly() {
	l.ln.Close()
	l.intLn.Close()
	if l.ownPres {
		l.store.Close()
	}
	if l.dbs != nil {
		l.dbs.Close()
	}
}

// unwrapSyscall keeps "address already in use" and drops the net.OpError
// prefix that repeats the address.
func unwrapSyscall(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// HallURL is where clients log in and find the directory.
func (l *Local) HallURL() string { return l.hallURL }

// InternalURL is the base URL of /metrics and /debug/pprof (after Start).
func (l *Local) InternalURL() string { return "http://" + l.intLn.Addr().String() }

// OpsURL is the operator's live view with a service ticket (valid 24 h) in
// the link's fragment, which the page keeps and no server sees.
func (l *Local) OpsURL() (string, error) {
	tok, err := l.keys.Sign(ticket.Service("local-operator", ticket.AudHallOps), 24*time.Hour)
	if err != nil {
		return "", err
	}
	return l.hallURL + "/ops#ticket=" + tok, nil
}

// Keys are the ticket keys (tests mint tickets with them).
func (l *Local) Keys() *ticket.Keyring { return l.keys }

// StopNow makes a running shutdown disconnect the remaining players at once
// instead of waiting for them to leave (a second Ctrl-C).
func (l *Local) StopNow() { l.stopped.Do(func() { close(l.stopNow) }) }

// Run serves until ctx ends, then drains: shards take no new players, the
// players still in rooms get ShutdownGrace (or until StopNow) to leave, the
// rest are disconnected, and every goroutine Run started has returned when it
// returns.
func (l *Local) Run(ctx context.Context) error {
	if l.ln == nil {
		return errors.New("local: Run before Start")
	}
	// Watch streams are hijacked connections that http.Server.Shutdown does
	// not close; their request contexts derive from this one.
	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	l.httpSrv.BaseContext = func(net.Listener) context.Context { return baseCtx }
	hallCtx, stopHall := context.WithCancel(context.Background())
	defer stopHall()
	var bg sync.WaitGroup
	bg.Go(func() { _ = l.hall.Run(hallCtx) })
	bg.Go(func() { _ = l.httpSrv.Serve(l.ln) })
	if l.cfg.KeyDir != "" {
		bg.Go(func() { l.reloadKeys(hallCtx) })
	}
	bg.Go(func() { _ = l.intSrv.Serve(l.intLn) })
	l.log.Info("local mode serving", "hall", l.hallURL, "regions", len(l.regions))

	tick := time.NewTicker(l.cfg.ScaleEvery)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case now := <-tick.C:
			l.mu.Lock()
			for _, r := range l.regions {
				if err := l.scaleLocked(ctx, r, now); err != nil {
					l.log.Error(err, "scaling", "region", r.spec.Name)
				}
			}
			l.publishLocked()
			l.mu.Unlock()
		}
	}

	// Shutdown: the hall lists nothing more, the shards drain.
	l.mu.Lock()
	l.closing = true
	l.source.Set(nil, nil)
	var pending []*shard
	for _, r := range l.regions {
		for _, s := range r.shards {
			s.srv.Drain()
			pending = append(pending, s)
		}
	}
	l.mu.Unlock()
	players := 0
	for _, s := range pending {
		players += s.srv.Stats().Players
	}
	if players > 0 {
		l.log.Info("draining: waiting for players to leave", "players", players, "grace", l.cfg.ShutdownGrace)
	}
	grace := time.NewTimer(l.cfg.ShutdownGrace)
	defer grace.Stop()
wait:
	for _, s := range pending {
		select {
		case <-s.done:
		case <-grace.C:
			break wait
		case <-l.stopNow:
			break wait
		}
	}
	l.mu.Lock()
	l.stopShardsLocked()
	l.mu.Unlock()
	l.wg.Wait()

	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.httpSrv.Shutdown(sctx)
	cancelBase()
	stopHall()
	l.intSrv.Close()
	bg.Wait()
	l.httpSrv.Close()
	if l.ownPres {
		l.store.Close()
	}
	if l.dbs != nil {
		l.dbs.Close() // after the shards: their last settlements are in
	}
	l.log.Info("local mode stopped")
	return nil
}

// stopShardsLocked disconnects every shard's players; l.wg.Wait waits for them.
func (l *Local) stopShardsLocked() {
	for _, r := range l.regions {
		for _, s := range r.shards {
			s.cancel()
		}
	}
}

// RegionStatus is one Region's state, as `kubectl get region` would show it.
type RegionStatus struct {
	Name           string
	Shards         int // running, draining included
	DrainingShards int
	PeakShards     int // most serving shards at once since Start
	Created        int64
	Deleted        int64
	Players        int64
	Capacity       int64 // of the serving shards
	Decision       string
}

// Status reports every Region.
func (l *Local) Status() []RegionStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []RegionStatus
	for _, r := range l.regions {
		st := RegionStatus{Name: r.spec.Name, PeakShards: r.peak, Created: r.created, Deleted: r.deleted, Decision: r.last.Reason}
		for _, s := range r.shards {
			st.Shards++
			st.Players += int64(s.srv.Stats().Players)
			if s.draining || s.stopping {
				st.DrainingShards++
			} else {
				st.Capacity += r.spec.ShardCapacity()
			}
		}
		out = append(out, st)
	}
	return out
}

// ShardStats is every running shard's room occupancy (tests check that no
// room ever holds more than its capacity).
func (l *Local) ShardStats() []gameserver.Stats {
	l.mu.Lock()
	var srvs []*gameserver.Server
	for _, r := range l.regions {
		for _, s := range r.shards {
			srvs = append(srvs, s.srv)
		}
	}
	l.mu.Unlock()
	out := make([]gameserver.Stats, 0, len(srvs))
	for _, s := range srvs {
		out = append(out, s.Stats())
	}
	return out
}
