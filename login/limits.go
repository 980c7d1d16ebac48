package login

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gamehall/gamehall/presence"
)

// Error codes of the login's limits.
const (
	// CodeBusy: too many password checks at once (503, Retry-After).
	CodeBusy = "LOGIN_BUSY"
	// CodeNameInUse: a guest name another guest is logged in under (409).
	CodeNameInUse = "NAME_IN_USE"
)

// Labels of gamehall_login_limited_total: which limit stopped or slowed a
// request.
const (
	limitedPair    = presence.LimitPair
	limitedAddress = presence.LimitAddress
	limitedAccount = presence.LimitAccount
	limitedSlowed  = "slowed"
	limitedGuest   = "guest"
	limitedSignup  = "signup"
	limitedBusy    = "busy"
)

var limitedLabels = []string{limitedPair, limitedAddress, limitedAccount, limitedSlowed, limitedGuest, limitedSignup, limitedBusy}

// ParseTrustedProxies parses a comma-separated list of addresses and CIDR
// prefixes (e.g. "10.0.0.0/8,192.168.1.7").
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %v", f, err)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %v", f, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address limits are keyed by: the TCP peer, unless the
// peer is a trusted proxy; then the nearest address in X-Forwarded-For that
// is not a trusted proxy (entries left of it are the client's to forge).
// IPv6 addresses count by their /64, which one subscriber holds whole.
func (s *Server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return "unknown"
	}
	a := peer.Unmap()
	if s.trusted(a) {
		var hops []string
		for _, h := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(h, ",")...)
		}
		for i := len(hops) - 1; i >= 0; i-- {
			h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a garbled hop: the last good one stands
			}
			a = h.Unmap()
			if !s.trusted(a) {
				break
			}
		}
	}
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}

// hashing bounds concurrent bcrypt work, which shares the process with the
// hall's watchers: BcryptConcurrency at once and BcryptQueue waiting; past
// that a request is answered 503 at once rather than queued.
type hashing struct {
	slots   chan struct{}
	waiting atomic.Int64
	queue   int64
}

func newHashing(concurrency, queue int) *hashing {
	return &hashing{slots: make(chan struct{}, concurrency), queue: int64(queue)}
}

// acquire returns a release func, or ok=false when too many wait already
// or ctx ends.
func (h *hashing) acquire(ctx context.Context) (release func(), ok bool) {
	select {
	case h.slots <- struct{}{}:
		return func() { <-h.slots }, true
	default:
	}
	if h.waiting.Add(1) > h.queue {
		h.waiting.Add(-1)
		return nil, false
	}
	defer h.waiting.Add(-1)
	select {
	case h.slots <- struct{}{}:
		return func() { <-h.slots }, true
	case <-ctx.Done():
		return nil, false
	}
}

// busy answers a request that found no hashing slot.
func (s *Server) busy(w http.ResponseWriter) string {
	s.m.limited.WithLabelValues(limitedBusy).Inc()
	WriteRetryError(w, http.StatusServiceUnavailable, CodeBusy, "the login service is busy; try again shortly", time.Second)
	return ResultBusy
}

// hashCompares counts bcrypt comparisons (tests check that an unknown
// account costs one, as a known one does).
var hashCompares atomic.Int64

// compareHash is the one place a password is compared.
func compareHash(hash []byte, password string) error {
	hashCompares.Add(1)
	return bcrypt.CompareHashAndPassword(hash, []byte(password))
}

// loginLimits are the presence limits of a password attempt.
func (c *Config) loginLimits() presence.LoginLimits {
	return presence.LoginLimits{
		Pair:     presence.Rate{Burst: c.PairBurst, Every: c.PairEvery},
		Address:  presence.Rate{Burst: c.AddressBurst, Every: c.AddressEvery},
		Account:  presence.Rate{Burst: c.AccountBurst, Every: c.AccountEvery},
		MaxDelay: c.AccountMaxDelay,
		KnownFor: c.KnownAddressFor,
	}
}

// admitPassword takes the attempt's tokens before the password is
// checked; a refusal or a store failure is answered here.
func (s *Server) admitPassword(w http.ResponseWriter, r *http.Request, account, addr string) (string, bool) {
	v, err := s.lim.TakeLogin(r.Context(), account, addr, s.cfg.loginLimits())
	if err != nil {
		return s.presenceFailed(w, err, account), false
	}
	switch v.Refused {
	case "":
	case presence.LimitAddress:
		s.m.limited.WithLabelValues(limitedAddress).Inc()
		WriteRetryError(w, http.StatusTooManyRequests, CodeRateLimited, "too many login attempts from your address; try again later", v.RetryAfter)
		return ResultRateLimited, false
	default:
		s.m.limited.WithLabelValues(v.Refused).Inc()
		WriteRetryError(w, http.StatusTooManyRequests, CodeRateLimited, "too many login attempts at this account; try again later", v.RetryAfter)
		return ResultRateLimited, false
	}
	if v.Delay > 0 {
		// The account is under attack from many addresses: slow down
		// rather than refuse, so its owner still gets in.
		s.m.limited.WithLabelValues(limitedSlowed).Inc()
		t := time.NewTimer(v.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return ResultError, false
		}
	}
	return "", true
}

// admitGuest: a guest login under a name with a live session must name
// that session (its holder logging in again) and costs nothing; any other
// takes a token of its address's guest budget. It answers the session the
// new one may replace ("" for none).
func (s *Server) admitGuest(w http.ResponseWriter, r *http.Request, req Request, addr string) (expect, result string, ok bool) {
	live, err := s.deps.Presence.Session(r.Context(), req.Account)
	if err != nil {
		return "", s.presenceFailed(w, err, req.Account), false
	}
	if live != "" && subtle.ConstantTimeCompare([]byte(live), []byte(req.Session)) == 1 {
		return live, "", true
	}
	d, err := s.lim.Take(r.Context(), "guest:"+addr, presence.Rate{Burst: s.cfg.GuestBurst, Every: s.cfg.GuestEvery})
	if err != nil {
		return "", s.presenceFailed(w, err, req.Account), false
	}
	if d > 0 {
		s.m.limited.WithLabelValues(limitedGuest).Inc()
		WriteRetryError(w, http.StatusTooManyRequests, CodeRateLimited, "too many guest logins from your address; try again later", d)
		return "", ResultRateLimited, false
	}
	return "", "", true
}

// nameInUse answers a guest login that lost its name to a live session.
func nameInUse(w http.ResponseWriter, account string) string {
	WriteError(w, http.StatusConflict, CodeNameInUse,
		fmt.Sprintf("the guest name %q is in use; choose another (its player logs in again with its session)", account))
	return ResultNameInUse
}

// presenceFailed answers a presence (session and limits store) failure.
func (s *Server) presenceFailed(w http.ResponseWriter, err error, account string) string {
	s.deps.Log.Error(err, "login: presence", "account", account)
	if errors.Is(err, presence.ErrUnavailable) {
		WriteRetryError(w, http.StatusServiceUnavailable, CodePresenceUnavailable,
			"the session store is unavailable; try again shortly", 2*time.Second)
		return ResultUnavailable
	}
	WriteError(w, http.StatusInternalServerError, CodeInternal, "the session store failed")
	return ResultError
}
