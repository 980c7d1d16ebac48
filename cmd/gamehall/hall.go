package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/hall/kubesource"
	"github.com/gamehall/gamehall/internal/httpserver"
	"github.com/gamehall/gamehall/internal/tlsfiles"
	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/profiles"
	"github.com/gamehall/gamehall/store"
	"github.com/gamehall/gamehall/ticket"
)

func init() {
	register(command{name: "hall", short: "serve login and the hall (room directory) on Kubernetes", run: runHall})
}

// reloadEvery is how often the accounts file is re-read: a changed Secret
// reaches the pod's files within a minute or so anyway.
const reloadEvery = 30 * time.Second

const hallHelp = `Usage: gamehall hall [flags]

Serves login (tickets, sign-up), the hall (the room directory and its watch
stream) and the players' data on --listen, for one Hall's pods on
Kubernetes: the operator runs it with these flags from the Hall's spec.
/metrics and /debug/pprof are on --internal-listen, off the players' port.

Flags:
`

// hallFlags are the hall's settings, from its command line.
type hallFlags struct {
	listen         string
	tlsCert        string
	tlsKey         string
	internalListen string
	keyDir         string
	verifyDir      string
	keyReload      time.Duration
	accounts       string
	accountsDB     string
	dbDir          string
	guest          bool
	redisAddr      string
	redisPrefix    string
	namespace      string
	selector       string
	maxClients     int
	pageSize       int
	watchMsgs      int
	advertise      string
	ticketTTL      time.Duration
	name           string
	trustedProxies string
}

// newHallFlags defines the hall's flags on a new flag set.
func newHallFlags() (*pflag.FlagSet, *hallFlags) {
	fs := pflag.NewFlagSet("hall", pflag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, hallHelp+fs.FlagUsages()) }
	f := &hallFlags{}
	fs.StringVar(&f.listen, "listen", ":8080", "address for login, the hall and health (the players' port)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "certificate (PEM) for HTTPS and wss on --listen, reloaded when it changes (a mounted Secret's tls.crt); unset: plain HTTP, e.g. behind a TLS-terminating ingress")
	fs.StringVar(&f.tlsKey, "tls-key", "", "its private key (PEM)")
	fs.StringVar(&f.internalListen, "internal-listen", ":8081", "address of /metrics and /debug/pprof, for Prometheus and operators: keep it off the players' Service (\"\": off)")
	fs.StringVar(&f.keyDir, "signing-keys", "", "directory of the ticket signing keys (a mounted Secret: <key id>.pem Ed25519 private keys and the file 'active' naming the one that signs; see 'gamehall keys')")
	fs.StringVar(&f.verifyDir, "verification-keys", "", "directory of the ticket verification keys (a mounted Secret: <key id>.pem Ed25519 public keys, the set shards hold too)")
	fs.DurationVar(&f.keyReload, "key-reload", ticket.DefaultReload, "how often both key directories are re-read: a key removed from the verification Secret is refused within the kubelet's Secret sync plus this")
	fs.StringVar(&f.accounts, "accounts", "", "accounts file of name:bcrypt-hash lines (see 'gamehall account'); with --accounts-database-url it is imported into the database")
	fs.StringVar(&f.accountsDB, "accounts-database-url", os.Getenv("GAMEHALL_ACCOUNTS_DATABASE_URL"), "the login's accounts database (postgres://…; env GAMEHALL_ACCOUNTS_DATABASE_URL): logins, sign-up")
	fs.StringVar(&f.dbDir, "databases-dir", "", "directory of the listed Regions' database URLs, one file <secret>/<key> each (the operator mounts it): leaderboards, /v1/me, game records")
	fs.BoolVar(&f.guest, "guest", false, "let anyone log in with any free name and no password (development only)")
	fs.StringVar(&f.redisAddr, "redis", "", "Redis host:port for presence (required on Kubernetes: replicas and shards share it)")
	fs.StringVar(&f.redisPrefix, "redis-prefix", "gamehall:", "prefix of every presence key in Redis")
	fs.StringVar(&f.namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace of the Regions and RoomShards to list")
	fs.StringVar(&f.selector, "region-selector", "", "label selector of the Regions this hall lists (empty: all)")
	fs.IntVar(&f.maxClients, "max-clients", 10000, "watchers served before new clients are redirected to a peer (0: no limit)")
	fs.IntVar(&f.pageSize, "page-size", 25, "rooms per page of the watch stream (?page=N)")
	fs.IntVar(&f.watchMsgs, "max-watch-messages", 50000, "messages a second this replica writes to all its watchers: past it each watcher is updated less often (bounds the CPU the stream takes)")
	fs.StringVar(&f.advertise, "advertise-url", "", "base URL clients reach this replica at, published for redirects and in login answers")
	fs.DurationVar(&f.ticketTTL, "ticket-ttl", time.Hour, "how long a login ticket is valid")
	fs.StringVar(&f.name, "name", defaultName(), "this replica's name among its peers")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", os.Getenv("GAMEHALL_TRUSTED_PROXIES"), "comma-separated addresses and CIDR prefixes of the proxies (ingress, load balancer) whose X-Forwarded-For names the client for the login limits; from any other peer the header is ignored (env GAMEHALL_TRUSTED_PROXIES)")
	return fs, f
}

func runHall(args []string) int {
	fs, f := newHallFlags()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	log := logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, nil))
	// The Kubernetes source logs through controller-runtime: give it ours.
	ctrl.SetLogger(log)
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "gamehall hall: "+format+"\n", a...)
		return 1
	}
	if f.keyDir == "" || f.verifyDir == "" {
		return fail("--signing-keys and --verification-keys are required")
	}
	if f.namespace == "" {
		return fail("--namespace is required (or set POD_NAMESPACE)")
	}
	keys, err := ticket.LoadKeyring(f.keyDir, f.verifyDir)
	if err != nil {
		return fail("%v", err)
	}
	var accts *login.Accounts
	if f.accounts != "" {
		if accts, err = login.LoadAccounts(f.accounts); err != nil {
			return fail("%v", err)
		}
	}
	var pres presence.Store
	if f.redisAddr != "" {
		pres = presence.NewRedis(newRedisClient(f.redisAddr), f.redisPrefix)
	} else {
		log.Info("no --redis: presence is in memory; run one replica only and no kicks reach shards")
		pres = presence.NewMemory()
	}
	defer pres.Close()
	kcfg, err := ctrl.GetConfig()
	if err != nil {
		return fail("kubernetes config: %v", err)
	}
	src, err := kubesource.New(kcfg, f.namespace, f.selector, log.WithName("kubesource"))
	if err != nil {
		return fail("%v", err)
	}

	// Databases open on first use and reopen after failures: the hall
	// serves the directory while they are down, and login and the
	// leaderboards answer 503 until they are back.
	pool := store.NewPool(store.Options{})
	defer pool.Close()
	var accountsStore store.Accounts
	if f.accountsDB != "" {
		accountsStore = pool.Get(f.accountsDB)
	} else if accts != nil || f.guest {
		log.Info("no accounts database (--accounts-database-url): sign-up is off, accounts come from the file or are guests")
	} else {
		return fail("no accounts: set --accounts-database-url (GAMEHALL_ACCOUNTS_DATABASE_URL: is the Hall's login.accountsDatabase Secret there?), --accounts or --guest")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux, hs, err := f.servers(log, reg, hallStores{keys: keys, pres: pres, src: src, accts: accts, accountsDB: accountsStore, pool: pool})
	if err != nil {
		return fail("%v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go reloadLoop(ctx, log, accts, accountsStore)
	go ticket.ReloadEvery(ctx, f.keyReload, log.WithName("keys"), func() (bool, error) { return keys.Reload(f.keyDir, f.verifyDir) },
		func() []any { ids, active := keys.KeyIDs(); return []any{"keys", ids, "active", active} })
	ln, err := listenPlayers(f.listen, f.tlsCert, f.tlsKey)
	if err != nil {
		return fail("%v", err)
	}
	srv := httpserver.New(mux)
	go srv.Serve(ln)
	if f.internalListen != "" {
		iln, err := net.Listen("tcp", f.internalListen)
		if err != nil {
			return fail("--internal-listen: %v", err)
		}
		isrv := httpserver.NewInternal(reg)
		go isrv.Serve(iln)
		defer isrv.Close()
	}
	log.Info("hall serving", "listen", ln.Addr().String(), "name", f.name, "namespace", f.namespace, "guest", f.guest)
	hs.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return 0
}

// hallStores are what the hall's servers share: the ticket keys, presence,
// the shards' source and the databases.
type hallStores struct {
	keys       *ticket.Keyring
	pres       presence.Store
	src        hall.ShardSource
	accts      *login.Accounts // nil: no accounts file
	accountsDB store.Accounts  // nil: no accounts database
	pool       *store.Pool
}

// servers builds login, the hall and the players' data on st, their
// metrics in reg, and mounts them on one mux.
func (f *hallFlags) servers(log logr.Logger, reg *prometheus.Registry, st hallStores) (*http.ServeMux, *hall.Server, error) {
	proxies, err := login.ParseTrustedProxies(f.trustedProxies)
	if err != nil {
		return nil, nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	ls, err := login.New(login.Config{TicketTTL: f.ticketTTL, Guest: f.guest, HallURL: f.advertise, TrustedProxies: proxies},
		login.Deps{Keys: st.keys, Presence: st.pres, Accounts: st.accts, Store: st.accountsDB, Log: log.WithName("login"), Metrics: reg})
	if err != nil {
		return nil, nil, err
	}
	metricsURL := ""
	if host, _, err := net.SplitHostPort(f.internalListen); err == nil && host != "" {
		metricsURL = "http://" + f.internalListen + "/metrics"
	}
	hs, err := hall.New(hall.Config{Name: f.name, AdvertiseURL: f.advertise, MaxClients: f.maxClients, PageSize: f.pageSize, MaxWatchMessages: f.watchMsgs, MetricsURL: metricsURL},
		hall.Deps{Keys: st.keys, Presence: st.pres, Source: st.src, Dial: hall.DialShard, Log: log.WithName("hall"), Metrics: reg})
	if err != nil {
		return nil, nil, err
	}
	dsnFile := func(ref string) (string, error) {
		if f.dbDir == "" {
			return "", errors.New("this hall has no --databases-dir")
		}
		return readDSN(filepath.Join(f.dbDir, ref))
	}
	ps, err := profiles.New(profiles.Config{}, profiles.Deps{Keys: st.keys, Regions: hs.RegionNames, Log: log.WithName("profiles"), Metrics: reg,
		DB: profiles.HallDatabases(hs.RegionDatabase, dsnFile, st.pool)})
	if err != nil {
		return nil, nil, err
	}
	return NewHallMux(ls, hs, ps), hs, nil
}

// listenPlayers opens the players' port: TLS when a certificate is given
// (reloaded when it changes), plain otherwise.
func listenPlayers(addr, cert, key string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if cert == "" && key == "" {
		return ln, nil
	}
	cfg, err := optionalTLS(cert, key)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return tls.NewListener(ln, cfg), nil
}

// optionalTLS is the TLS of --tls-cert and --tls-key, reloaded when the
// files change (a renewed Secret); nil when neither is set: plain.
func optionalTLS(cert, key string) (*tls.Config, error) {
	if cert == "" && key == "" {
		return nil, nil
	}
	cfg, err := tlsfiles.Config(cert, key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return cfg, nil
}

// NewHallMux mounts login, the hall, the players' data and a JSON 404 on
// one mux (metrics and profiles are on the internal port); local mode
// serves the same.
func NewHallMux(ls *login.Server, hs *hall.Server, ps *profiles.Server) *http.ServeMux {
	mux := http.NewServeMux()
	ls.Register(mux)
	hs.Register(mux)
	ps.Register(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		login.WriteError(w, http.StatusNotFound, login.CodeNotFound, "no such endpoint: "+r.URL.Path)
	})
	return mux
}

// readDSN reads a database URL from a mounted Secret's file.
func readDSN(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("database URL: %w (is the Region's database Secret there?)", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// reloadLoop re-reads the accounts file; with an accounts database the file
// is imported into it (at start too, retried until the database answers).
func reloadLoop(ctx context.Context, log logr.Logger, accts *login.Accounts, db store.Accounts) {
	t := time.NewTicker(reloadEvery)
	defer t.Stop()
	imported := accts == nil || db == nil
	for {
		if !imported {
			r, err := accts.ImportInto(ctx, db)
			if err != nil {
				log.Error(err, "importing the accounts file into the accounts database; retrying")
			} else {
				imported = true
				if r.Added+r.Updated > 0 || len(r.Skipped) > 0 {
					log.Info("accounts file imported", "added", r.Added, "updated", r.Updated, "leftAlone", r.Skipped)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if accts != nil {
			if err := accts.Reload(); err != nil {
				log.Error(err, "reloading accounts; keeping the old ones")
			} else {
				imported = db == nil
			}
		}
	}
}

func defaultName() string {
	if n := os.Getenv("POD_NAME"); n != "" {
		return n
	}
	n, _ := os.Hostname()
	return n
}
