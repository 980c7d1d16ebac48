// Package login serves POST /v1/login: it checks credentials (the accounts
// database, or an accounts file of bcrypt hashes, or guests in
// development), makes the new session the account's live one in presence
// (superseding, and so kicking, the old one), and answers a signed ticket.
// With an accounts database it also serves sign-up (POST /v1/accounts).
package login

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/store"
	"github.com/gamehall/gamehall/ticket"
)

// Config of the login service.
type Config struct {
	// TicketTTL is how long a ticket is valid (default 1h).
	TicketTTL time.Duration
	// SessionTTL is how long presence keeps a session nobody touches
	// (default 12h). Kicks reach only sessions still recorded.
	SessionTTL time.Duration
	// Guest allows any valid name without a password, unless the name is
	// in the accounts file. For development only.
	Guest bool
	// HallURL is this replica's base URL for clients, listed first among
	// the hall endpoints in answers (e.g. "http://127.0.0.1:8080").
	HallURL string
	// AccountBurst/AccountEvery: failed logins allowed per account before
	// 429, and the refill period (defaults 5, 1 minute).
	AccountBurst int
	AccountEvery time.Duration
	// AddressBurst/AddressEvery: likewise per client address (defaults 20, 3s).
	AddressBurst int
	AddressEvery time.Duration
	// SignupBurst/SignupEvery: sign-up attempts allowed per client address,
	// and the refill period (defaults 5, 10 minutes).
	SignupBurst int
	SignupEvery time.Duration
	// BcryptCost hashes new passwords (default bcrypt.DefaultCost).
	BcryptCost int
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.TicketTTL, time.Hour)
	def(&c.SessionTTL, 12*time.Hour)
	def(&c.AccountEvery, time.Minute)
	def(&c.AddressEvery, 3*time.Second)
	def(&c.SignupEvery, 10*time.Minute)
	if c.SignupBurst <= 0 {
		c.SignupBurst = 5
	}
	if c.BcryptCost <= 0 {
		c.BcryptCost = bcrypt.DefaultCost
	}
	if c.AccountBurst <= 0 {
		c.AccountBurst = 5
	}
	if c.AddressBurst <= 0 {
		c.AddressBurst = 20
	}
}

// Deps are the parts the service uses.
type Deps struct {
	Keys     *ticket.Keyring
	Presence presence.Store
	Accounts *Accounts // nil: no accounts file; with Store, only imported into it
	// Store is the accounts database: logins are checked against it and
	// sign-up writes to it. Nil: the accounts file (or guests) only.
	Store   store.Accounts
	Log     logr.Logger
	Metrics prometheus.Registerer // nil: metrics are not registered
}

// Server is the login service.
type Server struct {
	cfg     Config
	deps    Deps
	acct    *failLimiter
	addr    *failLimiter
	signups *failLimiter // per address, every attempt
	m       metrics

	peersMu sync.Mutex
	peers   []string
	peersAt time.Time
}

type metrics struct {
	logins   *prometheus.CounterVec
	signups  *prometheus.CounterVec
	duration prometheus.Histogram
}

// Results of a login, the label of gamehall_logins_total.
const (
	ResultOK          = "ok"
	ResultBadRequest  = "bad_request"
	ResultBadPassword = "bad_credentials"
	ResultRateLimited = "rate_limited"
	ResultDisabled    = "disabled"
	ResultUnavailable = "unavailable"
	ResultError       = "error"
)

// New returns the login service.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg.defaults()
	if deps.Keys == nil {
		return nil, errors.New("login: no signing keys")
	}
	if deps.Presence == nil {
		return nil, errors.New("login: no presence store")
	}
	if deps.Accounts == nil && deps.Store == nil && !cfg.Guest {
		return nil, errors.New("login: no accounts database, no accounts file and no guest mode: nobody could log in")
	}
	s := &Server{
		cfg:     cfg,
		deps:    deps,
		acct:    newFailLimiter(cfg.AccountBurst, cfg.AccountEvery),
		addr:    newFailLimiter(cfg.AddressBurst, cfg.AddressEvery),
		signups: newFailLimiter(cfg.SignupBurst, cfg.SignupEvery),
		m: metrics{
			logins: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "gamehall_logins_total", Help: "Login attempts by result.",
			}, []string{"result"}),
			signups: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "gamehall_signups_total", Help: "Sign-up attempts (POST /v1/accounts) by result.",
			}, []string{"result"}),
			duration: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name: "gamehall_login_duration_seconds", Help: "Time to answer a login.",
				Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
			}),
		},
	}
	for _, r := range []string{ResultOK, ResultBadRequest, ResultBadPassword, ResultRateLimited, ResultDisabled, ResultUnavailable, ResultError} {
		s.m.logins.WithLabelValues(r) // export zeros
		s.m.signups.WithLabelValues(r)
	}
	if deps.Metrics != nil {
		for _, c := range []prometheus.Collector{s.m.logins, s.m.signups, s.m.duration} {
			if err := deps.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("login: metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Register mounts the login routes on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("/v1/login", s.handleLogin)
	mux.HandleFunc("/v1/logout", s.handleLogout)
	mux.HandleFunc("/v1/accounts", s.handleSignup)
}

// Handler returns a handler serving only the login routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

// Request is the body of POST /v1/login.
type Request struct {
	Account  string `json:"account"`
	Password string `json:"password,omitempty"`
}

// Response is the answer to a successful login.
type Response struct {
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expiresAt"`
	Account   string    `json:"account"`
	Session   string    `json:"session"`
	KeyID     string    `json:"keyId"`
	// Superseded is true when an older session of the account was replaced
	// (and is being disconnected).
	Superseded bool `json:"superseded,omitempty"`
	// Halls are hall base URLs, least loaded first; the directory is at
	// {hall}/v1/regions.
	Halls []string `json:"halls"`
}

const maxBody = 4 << 10

// DecodeRequest parses and checks a login body.
func DecodeRequest(r io.Reader) (Request, error) {
	var req Request
	dec := json.NewDecoder(io.LimitReader(r, maxBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Request{}, fmt.Errorf("body is not a login request: %v", err)
	}
	if dec.More() {
		return Request{}, errors.New("body has data after the JSON object")
	}
	if len(req.Password) > 72 { // bcrypt's limit
		return Request{}, errors.New("password longer than 72 bytes")
	}
	return req, nil
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	result := s.login(w, r)
	s.m.logins.WithLabelValues(result).Inc()
	s.m.duration.Observe(time.Since(start).Seconds())
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) string {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		WriteError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use POST with a JSON body {\"account\", \"password\"}")
		return ResultBadRequest
	}
	req, err := DecodeRequest(r.Body)
	if err != nil {
		WriteError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return ResultBadRequest
	}
	if err := ValidAccountName(req.Account); err != nil {
		WriteError(w, http.StatusBadRequest, CodeInvalidAccountName, err.Error())
		return ResultBadRequest
	}
	addr := clientAddr(r)
	if d := max(s.acct.Blocked(req.Account), s.addr.Blocked(addr)); d > 0 {
		WriteRetryError(w, http.StatusTooManyRequests, CodeRateLimited, "too many failed logins; try again later", d)
		return ResultRateLimited
	}
	switch err := s.authenticate(r.Context(), req); {
	case errors.Is(err, ErrDisabled):
		WriteError(w, http.StatusForbidden, CodeAccountDisabled, err.Error())
		return ResultDisabled
	case errors.Is(err, store.ErrUnavailable) || (err != nil && !errors.Is(err, ErrBadPassword)):
		return s.storeFailed(w, err, req.Account)
	case err != nil:
		s.acct.Fail(req.Account)
		s.addr.Fail(addr)
		WriteError(w, http.StatusUnauthorized, CodeInvalidCredentials, err.Error())
		return ResultBadPassword
	}
	session, err := newSessionID()
	if err != nil {
		WriteError(w, http.StatusInternalServerError, CodeInternal, "cannot make a session id")
		return ResultError
	}
	prev, err := s.deps.Presence.Login(r.Context(), req.Account, session, s.cfg.SessionTTL)
	if err != nil {
		if errors.Is(err, presence.ErrUnavailable) {
			s.deps.Log.Error(err, "login: presence unavailable", "account", req.Account)
			WriteRetryError(w, http.StatusServiceUnavailable, CodePresenceUnavailable,
				"the session store is unavailable; try again shortly", 2*time.Second)
			return ResultUnavailable
		}
		s.deps.Log.Error(err, "login: presence", "account", req.Account)
		WriteError(w, http.StatusInternalServerError, CodeInternal, "recording the session failed")
		return ResultError
	}
	tok, err := s.deps.Keys.Sign(ticket.Claims{Account: req.Account, Session: session, Role: ticket.RolePlayer}, s.cfg.TicketTTL)
	if err != nil {
		s.deps.Log.Error(err, "login: signing")
		WriteError(w, http.StatusInternalServerError, CodeInternal, "signing the ticket failed")
		return ResultError
	}
	_, kid := s.deps.Keys.KeyIDs()
	WriteJSON(w, http.StatusOK, Response{
		Ticket:     tok,
		ExpiresAt:  time.Now().Add(s.cfg.TicketTTL).UTC().Truncate(time.Second),
		Account:    req.Account,
		Session:    session,
		KeyID:      kid,
		Superseded: prev != "" && prev != session,
		Halls:      s.halls(r.Context()),
	})
	return ResultOK
}

var errGuestPassword = fmt.Errorf("%w: guest accounts take no password", ErrBadPassword)

// ErrDisabled: the account exists and an administrator disabled it.
var ErrDisabled = errors.New("login: this account is disabled; contact the operators")

// authenticate checks the credentials; ErrBadPassword or ErrDisabled for
// the player, any other error is the accounts database's.
func (s *Server) authenticate(ctx context.Context, req Request) error {
	if s.deps.Store != nil {
		return s.authenticateStore(ctx, req)
	}
	if s.deps.Accounts != nil && (s.deps.Accounts.Has(req.Account) || !s.cfg.Guest) {
		return s.deps.Accounts.Check(req.Account, req.Password)
	}
	if s.cfg.Guest {
		if req.Password != "" {
			return errGuestPassword
		}
		return nil
	}
	return ErrBadPassword
}

// authenticateStore checks the credentials against the accounts database.
// In guest mode a name nobody holds is claimed as a guest's (no password),
// so sign-up cannot later take over a guest's balances.
func (s *Server) authenticateStore(ctx context.Context, req Request) error {
	a, err := s.deps.Store.Account(ctx, req.Account)
	if errors.Is(err, store.ErrNotFound) {
		if !s.cfg.Guest {
			bcrypt.CompareHashAndPassword(dummyHash(), []byte(req.Password))
			return ErrBadPassword
		}
		a, err = s.deps.Store.ClaimGuest(ctx, req.Account)
	}
	switch {
	case err != nil:
		return err
	case a.Disabled:
		return ErrDisabled
	case a.PasswordHash != nil:
		if bcrypt.CompareHashAndPassword(a.PasswordHash, []byte(req.Password)) != nil {
			return ErrBadPassword
		}
		return nil
	case !s.cfg.Guest:
		return ErrBadPassword // a guest's name, and guests are off
	case req.Password != "":
		return errGuestPassword
	}
	return nil
}

// halls lists hall URLs, this replica first, then live peers by load. The
// peer list is cached for a second: it changes slowly, logins are many.
func (s *Server) halls(ctx context.Context) []string {
	s.peersMu.Lock()
	defer s.peersMu.Unlock()
	if time.Since(s.peersAt) > time.Second {
		s.peersAt = time.Now()
		if peers, err := s.deps.Presence.Peers(ctx); err == nil {
			sort.SliceStable(peers, func(i, j int) bool { return load(peers[i]) < load(peers[j]) })
			s.peers = s.peers[:0]
			for _, p := range peers {
				if p.Address != s.cfg.HallURL && (p.Max <= 0 || p.Clients < p.Max) {
					s.peers = append(s.peers, p.Address)
				}
			}
		}
	}
	out := make([]string, 0, len(s.peers)+1)
	if s.cfg.HallURL != "" {
		out = append(out, s.cfg.HallURL)
	}
	return append(out, s.peers...)
}

func load(p presence.Peer) float64 {
	if p.Max <= 0 {
		return float64(p.Clients)
	}
	return float64(p.Clients) / float64(p.Max)
}

// handleLogout ends the session named by the bearer ticket.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		WriteError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use POST with the ticket as a bearer token")
		return
	}
	c, ok := Authenticate(w, r, s.deps.Keys)
	if !ok {
		return
	}
	if err := s.deps.Presence.Logout(r.Context(), c.Account, c.Session); err != nil {
		WriteRetryError(w, http.StatusServiceUnavailable, CodePresenceUnavailable, "the session store is unavailable; try again shortly", 2*time.Second)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
