package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gamehall/gamehall/presence"
)

// limiter runs fn on the store's Limiter (every Store of this repository
// is one).
func limiter(fn func(t *testing.T, l presence.Limiter)) func(t *testing.T, s presence.Store) {
	return func(t *testing.T, s presence.Store) {
		l, ok := s.(presence.Limiter)
		if !ok {
			t.Fatalf("%T is not a presence.Limiter", s)
		}
		fn(t, l)
	}
}

func testLoginIf(t *testing.T, s presence.Store) {
	c := ctx(t)
	kicks, err := s.Kicks(c)
	must(t, err)
	live, ok, err := s.LoginIf(c, "guest", "s1", "", long)
	must(t, err)
	if !ok || live != "" {
		t.Fatalf("free name: ok %v live %q", ok, live)
	}
	// Another guest, not knowing the live session, cannot take it.
	live, ok, err = s.LoginIf(c, "guest", "s2", "", long)
	must(t, err)
	if ok || live != "s1" {
		t.Fatalf("taken name: ok %v live %q", ok, live)
	}
	live, ok, err = s.LoginIf(c, "guest", "s3", "wrong", long)
	must(t, err)
	if ok || live != "s1" {
		t.Fatalf("wrong session: ok %v live %q", ok, live)
	}
	if cur, _ := s.Session(c, "guest"); cur != "s1" {
		t.Fatalf("live session %q after refused take-overs", cur)
	}
	// Its holder logs in again: the old session is kicked as by Login.
	live, ok, err = s.LoginIf(c, "guest", "s4", "s1", long)
	must(t, err)
	if !ok || live != "s1" {
		t.Fatalf("holder: ok %v live %q", ok, live)
	}
	if k := NextKick(t, kicks); k != (presence.Kick{Account: "guest", Session: "s1", Reason: presence.KickReason}) {
		t.Fatalf("kick %+v", k)
	}
	// An expired session frees the name.
	_, ok, err = s.LoginIf(c, "brief", "b1", "", ShortTTL)
	must(t, err)
	if !ok {
		t.Fatal("free name refused")
	}
	Eventually(t, "the short session to expire and free the name", func() bool {
		_, ok, err := s.LoginIf(c, "brief", "b2", "", long)
		return err == nil && ok
	})
}

var (
	hourly    = presence.Rate{Burst: 3, Every: time.Hour}
	loginLims = presence.LoginLimits{
		Pair:     presence.Rate{Burst: 3, Every: time.Hour},
		Address:  presence.Rate{Burst: 6, Every: time.Hour},
		Account:  presence.Rate{Burst: 10, Every: time.Hour},
		KnownFor: time.Hour,
	}
)

func testTake(t *testing.T, l presence.Limiter) {
	c := ctx(t)
	for i := range hourly.Burst {
		d, err := l.Take(c, "k", hourly)
		must(t, err)
		if d != 0 {
			t.Fatalf("take %d refused (%v) within the burst", i, d)
		}
	}
	d, err := l.Take(c, "k", hourly)
	must(t, err)
	if d <= 0 || d > hourly.Every {
		t.Fatalf("take past the burst: retry after %v, want in (0, %v]", d, hourly.Every)
	}
	// Keys are independent.
	if d, err := l.Take(c, "other", hourly); err != nil || d != 0 {
		t.Fatalf("another key: %v %v", d, err)
	}
}

func testTakeRefills(t *testing.T, l presence.Limiter) {
	c := ctx(t)
	r := presence.Rate{Burst: 1, Every: ShortTTL}
	if d, err := l.Take(c, "k", r); err != nil || d != 0 {
		t.Fatalf("first take: %v %v", d, err)
	}
	if d, _ := l.Take(c, "k", r); d == 0 {
		t.Fatal("second take within the period granted")
	}
	Eventually(t, "a token to come back", func() bool {
		d, err := l.Take(c, "k", r)
		return err == nil && d == 0
	})
}

// parallel runs n calls of fn at once and counts those that return true.
func parallel(n int, fn func() bool) int {
	var granted atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			if fn() {
				granted.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	return int(granted.Load())
}

func testParallelTakes(t *testing.T, l presence.Limiter) {
	c := ctx(t)
	got := parallel(300, func() bool {
		d, err := l.Take(c, "k", hourly)
		if err != nil {
			t.Error(err)
		}
		return err == nil && d == 0
	})
	if got != hourly.Burst {
		t.Fatalf("%d of 300 parallel takes granted, want the burst %d", got, hourly.Burst)
	}
}

func testLoginBuckets(t *testing.T, l presence.Limiter) {
	c := ctx(t)
	take := func(account, addr string) presence.LoginVerdict {
		t.Helper()
		v, err := l.TakeLogin(c, account, addr, loginLims)
		must(t, err)
		return v
	}
	for i := range loginLims.Pair.Burst {
		if v := take("victim", "10.0.0.66"); v != (presence.LoginVerdict{}) {
			t.Fatalf("attempt %d: %+v", i, v)
		}
	}
	v := take("victim", "10.0.0.66")
	if v.Refused != presence.LimitPair || v.RetryAfter <= 0 {
		t.Fatalf("past the pair's burst: %+v", v)
	}
	// The attacker's spent pair does not touch the victim's own address.
	if v := take("victim", "10.0.0.1"); v.Refused != "" {
		t.Fatalf("victim from another address: %+v", v)
	}
	// The attacker's address has spent 3 of 6: three more accounts, then the address is refused.
	for _, a := range []string{"a1", "a2", "a3"} {
		if v := take(a, "10.0.0.66"); v.Refused != "" {
			t.Fatalf("%s: %+v", a, v)
		}
	}
	if v := take("a4", "10.0.0.66"); v.Refused != presence.LimitAddress {
		t.Fatalf("address past its burst: %+v", v)
	}
	// A success gives its tokens back: the pair is never spent by the right password.
	for range 10 {
		if v := take("ok", "10.0.0.2"); v.Refused != "" {
			t.Fatalf("successful logins limited: %+v", v)
		}
		must(t, l.LoginSucceeded(c, "ok", "10.0.0.2", loginLims))
	}
}

func testLoginAccountSlows(t *testing.T, l presence.Limiter) {
	c := ctx(t)
	lims := loginLims
	lims.Account = presence.Rate{Burst: 2, Every: time.Minute}
	lims.MaxDelay = 90 * time.Second // room for one attempt waiting
	take := func(addr string) presence.LoginVerdict {
		t.Helper()
		v, err := l.TakeLogin(c, "acct", addr, lims)
		must(t, err)
		return v
	}
	// The victim logged in from home before.
	if v := take("10.1.0.1"); v.Refused != "" {
		t.Fatal(v)
	}
	must(t, l.LoginSucceeded(c, "acct", "10.1.0.1", lims))
	// Guessers from many addresses spend the account's burst ...
	if v := take("10.9.0.1"); v.Refused != "" || v.Delay != 0 {
		t.Fatalf("first guesser: %+v", v)
	}
	if v := take("10.9.0.2"); v.Refused != "" || v.Delay != 0 {
		t.Fatalf("second guesser: %+v", v)
	}
	// ... then attempts are slowed, not refused, while the wait is short ...
	if v := take("10.9.0.3"); v.Refused != "" || v.Delay <= 0 || v.Delay > lims.Account.Every {
		t.Fatalf("third guesser: %+v, want slowed by up to %v", v, lims.Account.Every)
	}
	// ... and refused once it is not.
	if v := take("10.9.0.4"); v.Refused != presence.LimitAccount || v.RetryAfter <= 0 {
		t.Fatalf("fourth guesser: %+v", v)
	}
	// The victim's known address is not slowed at all, and its success
	// gives the account no token it did not take.
	if v := take("10.1.0.1"); v != (presence.LoginVerdict{}) {
		t.Fatalf("victim from a known address: %+v", v)
	}
	must(t, l.LoginSucceeded(c, "acct", "10.1.0.1", lims))
	if v := take("10.9.0.5"); v.Refused != presence.LimitAccount {
		t.Fatalf("a guesser after the owner's success: %+v", v)
	}
}

func testParallelLogins(t *testing.T, l presence.Limiter) {
	c := ctx(t)
	got := parallel(300, func() bool {
		v, err := l.TakeLogin(c, "target", "10.0.0.9", loginLims)
		if err != nil {
			t.Error(err)
		}
		return err == nil && v.Refused == ""
	})
	if got != loginLims.Pair.Burst {
		t.Fatalf("%d of 300 parallel attempts admitted, want the pair's burst %d", got, loginLims.Pair.Burst)
	}
}

func testLimiterBadArguments(t *testing.T, l presence.Limiter) {
	c := ctx(t)
	for _, tc := range []struct {
		key string
		r   presence.Rate
	}{{"", hourly}, {"a|b", hourly}, {"k", presence.Rate{Burst: 0, Every: time.Hour}}, {"k", presence.Rate{Burst: 1}}} {
		if _, err := l.Take(c, tc.key, tc.r); err == nil {
			t.Errorf("Take(%q, %+v) accepted", tc.key, tc.r)
		}
	}
	if _, err := l.TakeLogin(c, "a|b", "10.0.0.1", loginLims); err == nil {
		t.Error("TakeLogin accepted an account with '|'")
	}
	if _, err := l.TakeLogin(c, "a", "10.0.0.1", presence.LoginLimits{}); err == nil {
		t.Error("TakeLogin accepted zero limits")
	}
}
