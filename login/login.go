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
	"net/http"
	"net/netip"
	"runtime"
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
	// GuestSessionTTL is how long presence keeps a guest's session nobody
	// touches (default TicketTTL): a guest's name is free again soon after
	// its ticket expires, unless a shard still holds its player.
	GuestSessionTTL time.Duration

	// Limits on password attempts, kept in the presence store so that all
	// replicas share them, and taken before the password is checked (see
	// presence.LoginLimits). A success gives its tokens back.
	// PairBurst/PairEvery: one account from one address (defaults 5, 1
	// minute). A victim's own address keeps its own budget.
	PairBurst int
	PairEvery time.Duration
	// AddressBurst/AddressEvery: one address, any account (defaults 20, 3s).
	AddressBurst int
	AddressEvery time.Duration
	// AccountBurst/AccountEvery: one account from addresses that have not
	// logged into it within KnownAddressFor (defaults 30, 10s; 30 days);
	// past the burst an attempt waits for its token up to AccountMaxDelay
	// (default 5s), and only beyond is refused.
	AccountBurst    int
	AccountEvery    time.Duration
	AccountMaxDelay time.Duration
	KnownAddressFor time.Duration
	// GuestBurst/GuestEvery: new guest sessions per address (defaults 200,
	// 1s): each holds a name and a session in presence.
	GuestBurst int
	GuestEvery time.Duration
	// SignupBurst/SignupEvery: sign-up attempts allowed per client address,
	// and the refill period (defaults 5, 10 minutes).
	SignupBurst int
	SignupEvery time.Duration
	// BcryptConcurrency password hashes run at once (default GOMAXPROCS),
	// BcryptQueue more wait (default 4×); past that, 503 LOGIN_BUSY.
	BcryptConcurrency int
	BcryptQueue       int
	// TrustedProxies: peers whose X-Forwarded-For names the client (see
	// clientAddr); from anyone else the header is ignored.
	TrustedProxies []netip.Prefix
	// BcryptCost hashes new passwords (default bcrypt.DefaultCost).
	BcryptCost int
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defN := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&c.TicketTTL, time.Hour)
	def(&c.SessionTTL, 12*time.Hour)
	def(&c.GuestSessionTTL, c.TicketTTL)
	defN(&c.PairBurst, 5)
	def(&c.PairEvery, time.Minute)
	defN(&c.AddressBurst, 20)
	def(&c.AddressEvery, 3*time.Second)
	defN(&c.AccountBurst, 30)
	def(&c.AccountEvery, 10*time.Second)
	def(&c.AccountMaxDelay, 5*time.Second)
	def(&c.KnownAddressFor, 30*24*time.Hour)
	defN(&c.GuestBurst, 200)
	def(&c.GuestEvery, time.Second)
	defN(&c.SignupBurst, 5)
	def(&c.SignupEvery, 10*time.Minute)
	defN(&c.BcryptCost, bcrypt.DefaultCost)
	defN(&c.BcryptConcurrency, runtime.GOMAXPROCS(0))
	defN(&c.BcryptQueue, 4*c.BcryptConcurrency)
}

// Deps are the parts the service uses.
type Deps struct {
	Keys     *ticket.Keyring
	Presence presence.Store
	Accounts *Accounts // nil: no accounts file; with Store, only imported into it
	// Store is the accounts database: logins are checked against it and
	// sign-up writes to it. Nil: the accounts file (or guests) only.
	Store store.Accounts
	// Limiter keeps the login limits (nil: Presence, when it is one).
	Limiter presence.Limiter
	Log     logr.Logger
	Metrics prometheus.Registerer // nil: metrics are not registered
}

// Server is the login service.
type Server struct {
	cfg    Config
	deps   Deps
	lim    presence.Limiter
	hashes *hashing
	m      metrics

	peersMu sync.Mutex
	peers   []string
	peersAt time.Time
}

type metrics struct {
	logins   *prometheus.CounterVec
	signups  *prometheus.CounterVec
	limited  *prometheus.CounterVec
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
	ResultBusy        = "busy"
	ResultNameInUse   = "name_in_use"
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
	lim := deps.Limiter
	if lim == nil {
		lim, _ = deps.Presence.(presence.Limiter)
	}
	if lim == nil {
		return nil, errors.New("login: no limiter: the presence store keeps none, and Deps.Limiter is unset")
	}
	s := &Server{
		cfg:    cfg,
		deps:   deps,
		lim:    lim,
		hashes: newHashing(cfg.BcryptConcurrency, cfg.BcryptQueue),
		m: metrics{
			logins: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "gamehall_logins_total", Help: "Login attempts by result.",
			}, []string{"result"}),
			signups: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "gamehall_signups_total", Help: "Sign-up attempts (POST /v1/accounts) by result.",
			}, []string{"result"}),
			limited: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "gamehall_login_limited_total", Help: "Login and sign-up requests refused or slowed, by the limit (pair: account+address, address, account, slowed, guest, signup, busy: bcrypt slots).",
			}, []string{"limit"}),
			duration: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name: "gamehall_login_duration_seconds", Help: "Time to answer a login.",
				Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
			}),
		},
	}
	for _, r := range []string{ResultOK, ResultBadRequest, ResultBadPassword, ResultRateLimited, ResultDisabled, ResultUnavailable, ResultBusy, ResultNameInUse, ResultError} {
		s.m.logins.WithLabelValues(r) // export zeros
		s.m.signups.WithLabelValues(r)
	}
	for _, l := range limitedLabels {
		s.m.limited.WithLabelValues(l)
	}
	if deps.Metrics != nil {
		for _, c := range []prometheus.Collector{s.m.logins, s.m.signups, s.m.limited, s.m.duration} {
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
	// Session: a guest logging in again under its name names the session
	// of its live login (a name in use is refused to anyone else).
	Session string `json:"session,omitempty"`
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
	addr := s.clientAddr(r)
	guest := s.cfg.Guest && req.Password == ""
	expect, res, ok := s.admitAndCheck(w, r, req, addr, guest)
	if !ok {
		return res
	}
	session, err := newSessionID()
	if err != nil {
		WriteError(w, http.StatusInternalServerError, CodeInternal, "cannot make a session id")
		return ResultError
	}
	var prev string
	if guest {
		var won bool
		prev, won, err = s.deps.Presence.LoginIf(r.Context(), req.Account, session, expect, s.cfg.GuestSessionTTL)
		if err == nil && !won {
			return nameInUse(w, req.Account)
		}
	} else {
		prev, err = s.deps.Presence.Login(r.Context(), req.Account, session, s.cfg.SessionTTL)
		if err == nil {
			if lerr := s.lim.LoginSucceeded(r.Context(), req.Account, addr, s.cfg.loginLimits()); lerr != nil {
				s.deps.Log.Error(lerr, "login: limiter", "account", req.Account) // the login stands
			}
		}
	}
	if err != nil {
		return s.presenceFailed(w, err, req.Account)
	}
	tok, err := s.deps.Keys.Sign(ticket.Player(req.Account, session), s.cfg.TicketTTL)
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

// admitAndCheck takes the attempt's place in the limits, then checks the
// credentials within the bounded bcrypt work; on refusal it has answered.
// For a guest it answers the live session the new one may replace.
func (s *Server) admitAndCheck(w http.ResponseWriter, r *http.Request, req Request, addr string, guest bool) (expect, result string, ok bool) {
	if guest {
		if expect, result, ok = s.admitGuest(w, r, req, addr); !ok {
			return "", result, false
		}
	} else if result, ok = s.admitPassword(w, r, req.Account, addr); !ok {
		return "", result, false
	}
	release, ok := s.hashes.acquire(r.Context())
	if !ok {
		return "", s.busy(w), false
	}
	err := s.authenticate(r.Context(), req)
	release()
	switch {
	case errors.Is(err, ErrDisabled):
		WriteError(w, http.StatusForbidden, CodeAccountDisabled, err.Error())
		return "", ResultDisabled, false
	case errors.Is(err, store.ErrUnavailable) || (err != nil && !errors.Is(err, ErrBadPassword)):
		return "", s.storeFailed(w, err, req.Account), false
	case err != nil:
		WriteError(w, http.StatusUnauthorized, CodeInvalidCredentials, err.Error())
		return "", ResultBadPassword, false
	}
	return expect, "", true
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
			compareHash(dummyHash(), req.Password)
			return ErrBadPassword
		}
		a, err = s.deps.Store.ClaimGuest(ctx, req.Account)
	}
	switch {
	case err != nil:
		return err
	case a.PasswordHash != nil:
		// The password first: whether an account exists or is disabled
		// shows only to who knows its password.
		if compareHash(a.PasswordHash, req.Password) != nil {
			return ErrBadPassword
		}
	case !s.cfg.Guest:
		compareHash(dummyHash(), req.Password) // a guest's name, and guests are off: as if unknown
		return ErrBadPassword
	case req.Password != "":
		return errGuestPassword
	}
	if a.Disabled {
		return ErrDisabled
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
	c, ok := Authenticate(w, r, s.deps.Keys, ticket.AudPlayer)
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
