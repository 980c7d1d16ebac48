// Package profiles serves the players' lasting data from the regions'
// databases: GET /v1/me (balance and stats in every region), GET
// /v1/regions/{region}/leaderboard (top scores, paged, with the caller's own
// rank) and GET /v1/games/{id} (a game's record, to its players). Each
// request reads one region's database at a time: no request joins regions.
package profiles

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/store"
	"github.com/gamehall/gamehall/ticket"
)

// Databases finds the database holding a region's data.
type Databases interface {
	// For returns the region's store; ErrNoDatabase when the region keeps
	// no players' data (or is not one this hall lists).
	For(ctx context.Context, region string) (store.Regions, error)
}

// DatabasesFunc adapts a function to Databases.
type DatabasesFunc func(ctx context.Context, region string) (store.Regions, error)

// For calls f.
func (f DatabasesFunc) For(ctx context.Context, region string) (store.Regions, error) {
	return f(ctx, region)
}

// ErrNoDatabase: the region names no database, or is unknown here.
var ErrNoDatabase = errors.New("profiles: the region keeps no players' data")

// Error codes of these routes (besides login's).
const (
	CodeDatabaseUnavailable = "DATABASE_UNAVAILABLE"
	CodeNoDatabase          = "NO_DATABASE"
)

// Config of the routes. Zero fields take the defaults noted.
type Config struct {
	// TopSize is how many leaderboard rows each region keeps in memory (1000).
	TopSize int
	// TopTTL is how old a cached leaderboard may be before it is refreshed (5s).
	TopTTL time.Duration
	// MaxOffset is the deepest leaderboard row served (10000).
	MaxOffset int
	// RequestTimeout bounds the database reads of one request (3s).
	RequestTimeout time.Duration
}

func (c *Config) defaults() {
	if c.TopSize <= 0 {
		c.TopSize = 1000
	}
	if c.TopTTL <= 0 {
		c.TopTTL = 5 * time.Second
	}
	if c.MaxOffset <= 0 {
		c.MaxOffset = 10000
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 3 * time.Second
	}
}

// Deps of the routes.
type Deps struct {
	Keys ticket.Verifier
	DB   Databases
	// Regions lists the regions /v1/me reports on (the hall's).
	Regions func() []string
	Log     logr.Logger
	Metrics prometheus.Registerer // nil: not registered
}

// Server serves the routes.
type Server struct {
	cfg      Config
	deps     Deps
	mu       sync.Mutex
	boards   map[string]*board
	requests *prometheus.HistogramVec
}

// New returns the routes' server.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg.defaults()
	if deps.Keys == nil || deps.DB == nil || deps.Regions == nil {
		return nil, errors.New("profiles: Keys, DB and Regions are required")
	}
	s := &Server{cfg: cfg, deps: deps, boards: map[string]*board{},
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gamehall_player_data_request_seconds",
			Help:    "Time to answer /v1/me, a leaderboard or a game record, by route and status.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 3, 11),
		}, []string{"route", "status"}),
	}
	if deps.Metrics != nil {
		if err := deps.Metrics.Register(s.requests); err != nil {
			return nil, fmt.Errorf("profiles: metrics: %w", err)
		}
	}
	return s, nil
}

// Register mounts the routes on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("/v1/me", s.route("me", s.handleMe))
	mux.HandleFunc("/v1/regions/{name}/leaderboard", s.route("leaderboard", s.handleLeaderboard))
	mux.HandleFunc("/v1/games/{id}", s.route("game", s.handleGame))
}

// Handler serves only these routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

// route checks method and ticket, bounds the request's database time and
// measures the answer.
func (s *Server) route(name string, h func(w http.ResponseWriter, r *http.Request, account string) int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		status := http.StatusOK
		defer func() {
			s.requests.WithLabelValues(name, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
		}()
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			status = http.StatusMethodNotAllowed
			login.WriteError(w, status, login.CodeMethodNotAllowed, "use GET")
			return
		}
		c, ok := login.Authenticate(w, r, s.deps.Keys, ticket.AudPlayer)
		if !ok {
			status = http.StatusUnauthorized
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		status = h(w, r.WithContext(ctx), c.Account)
	}
}

// fail answers a database error: 503 with a retry hint when unreachable,
// 404 when the region keeps no data.
func (s *Server) fail(w http.ResponseWriter, region string, err error) int {
	switch {
	case errors.Is(err, ErrNoDatabase):
		login.WriteError(w, http.StatusNotFound, CodeNoDatabase, fmt.Sprintf("region %q keeps no players' data (its Region names no database, or this hall does not list it)", region))
		return http.StatusNotFound
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, store.ErrSchema):
		s.deps.Log.V(1).Info("region database unavailable", "region", region, "err", err.Error())
		login.WriteRetryError(w, http.StatusServiceUnavailable, CodeDatabaseUnavailable,
			fmt.Sprintf("the database of region %q is unavailable; try again shortly", region), 5*time.Second)
		return http.StatusServiceUnavailable
	}
	s.deps.Log.Error(err, "region database", "region", region)
	login.WriteError(w, http.StatusInternalServerError, login.CodeInternal, "reading the region's database failed")
	return http.StatusInternalServerError
}

func (s *Server) board(region string) *board {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boards[region]
	if b == nil {
		b = &board{region: region}
		s.boards[region] = b
	}
	return b
}

// HallDatabases finds a region's database through the hall's directory:
// lookup gives the region's database reference (RegionInfo.Database; ok
// false for a region the hall does not list), dsnOf turns it into a URL (on
// Kubernetes by reading the mounted Secret's file), and pool opens each
// database once for every region that names it.
func HallDatabases(lookup func(region string) (ref string, ok bool), dsnOf func(ref string) (string, error), pool *store.Pool) Databases {
	return DatabasesFunc(func(_ context.Context, region string) (store.Regions, error) {
		ref, ok := lookup(region)
		if !ok || ref == "" {
			return nil, ErrNoDatabase
		}
		dsn, err := dsnOf(ref)
		if err != nil {
			return nil, fmt.Errorf("%w: region %s: %v", store.ErrUnavailable, region, err)
		}
		return pool.Get(dsn), nil
	})
}
