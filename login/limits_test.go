package login_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/presence/redistest"
	"github.com/gamehall/gamehall/store"
)

// from is an HTTP client whose connections leave from a loopback address
// of its own (127.0.0.0/8 is all local on Linux), so a test has clients at
// several real addresses.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}}
}

// postWith is post through client c, with extra request headers.
func postWith(t testing.TB, c *http.Client, url, body string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/login", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return decodeAnswer(t, resp)
}

func decodeAnswer(t testing.TB, resp *http.Response) answer {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	var err error
	if resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(b, &a.ok)
	} else {
		err = json.Unmarshal(b, &a.err)
	}
	if err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return a
}

// slowAccounts is an accounts file hashed at bcrypt's default cost: a
// password check takes long enough for parallel requests to overlap it.
func slowAccounts(t testing.TB) *login.Accounts {
	p := filepath.Join(t.TempDir(), "accounts")
	if err := login.AddAccount(p, "alice", "wonderland", bcrypt.DefaultCost); err != nil {
		t.Fatal(err)
	}
	a, err := login.LoadAccounts(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// defaultPairBurst is login.Config's documented default of attempts at one
// account from one address.
const defaultPairBurst = 5

// Hundreds of parallel guesses at one account from one address: only the
// burst gets its password checked, every other one is refused before
// bcrypt. (Before, the limiter was consulted before the check and charged
// after it, so every guess in flight was checked.)
func TestParallelGuessesCannotExceedTheLimit(t *testing.T) {
	pres := presence.NewMemory()
	defer pres.Close()
	e := start(t, login.Config{}, pres, slowAccounts(t))
	const n = 300
	var mu sync.Mutex
	count := map[int]int{}
	var wg sync.WaitGroup
	ready := make(chan struct{})
	c := from("127.0.0.1")
	for range n {
		wg.Go(func() {
			<-ready
			a := postWith(t, c, e.url, loginBody("alice", "guess"))
			mu.Lock()
			count[a.status]++
			mu.Unlock()
		})
	}
	close(ready)
	wg.Wait()
	if count[http.StatusUnauthorized] != defaultPairBurst || count[http.StatusTooManyRequests] != n-defaultPairBurst {
		t.Fatalf("%d parallel guesses: answers %v; want %d checked (401) and the rest refused (429)", n, count, defaultPairBurst)
	}
}

// An attacker's failures from one address do not stop the owner logging in
// from another. (Before, failures counted per account: the owner was
// refused for as long as the attacker kept failing.)
func TestVictimNotLockedOutByAnotherAddress(t *testing.T) {
	pres := presence.NewMemory()
	defer pres.Close()
	e := start(t, login.Config{}, pres, accountsFile(t))
	attacker, victim := from("127.0.0.2"), from("127.0.0.3")
	limited := false
	for range 30 {
		a := postWith(t, attacker, e.url, loginBody("alice", "guess"))
		if a.status == http.StatusTooManyRequests {
			limited = true
		} else if a.status != http.StatusUnauthorized {
			t.Fatalf("attacker's guess: %d %+v", a.status, a.err)
		}
	}
	if !limited {
		t.Fatal("30 wrong guesses from one address were never limited")
	}
	if a := postWith(t, victim, e.url, loginBody("alice", "wonderland")); a.status != http.StatusOK {
		t.Fatalf("owner from another address: %d %+v", a.status, a.err)
	}
	// The attacker stays limited.
	if a := postWith(t, attacker, e.url, loginBody("alice", "wonderland")); a.status != http.StatusTooManyRequests {
		t.Fatalf("attacker after its failures: %d", a.status)
	}
}

// Guessers at one account from many addresses spend the account's budget;
// the owner, from an address it logged in from before, is not slowed, and a
// new address is slowed or refused (the price of bounding the account's
// guesses).
func TestDistributedGuessersDoNotLockOutTheOwner(t *testing.T) {
	pres := presence.NewMemory()
	defer pres.Close()
	e := start(t, login.Config{AccountBurst: 10, AccountEvery: time.Hour}, pres, accountsFile(t))
	home := from("127.0.0.3")
	if a := postWith(t, home, e.url, loginBody("alice", "wonderland")); a.status != http.StatusOK {
		t.Fatalf("owner's first login: %d", a.status)
	}
	refused := 0
	for i := range 20 {
		a := postWith(t, from(fmt.Sprintf("127.0.1.%d", i+1)), e.url, loginBody("alice", "guess"))
		if a.status == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused != 10 {
		t.Fatalf("%d of 20 guessers refused, want all past the account's burst of 10", refused)
	}
	if a := postWith(t, home, e.url, loginBody("alice", "wonderland")); a.status != http.StatusOK {
		t.Fatalf("owner from its known address: %d %+v", a.status, a.err)
	}
	if a := postWith(t, from("127.0.2.1"), e.url, loginBody("alice", "wonderland")); a.status != http.StatusTooManyRequests {
		t.Fatalf("an unknown address while the account's budget is spent: %d", a.status)
	}
}

// Two replicas on one Redis share the limits: failures on one limit the
// next attempt on the other.
func TestLimitsSharedAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	accts := accountsFile(t)
	a := start(t, login.Config{PairBurst: 3, PairEvery: time.Hour}, redisStore(t, srv), accts)
	b := start(t, login.Config{PairBurst: 3, PairEvery: time.Hour}, redisStore(t, srv), accts)
	for i := range 3 {
		if r := post(t, a.url, loginBody("bob", "guess")); r.status != http.StatusUnauthorized {
			t.Fatalf("guess %d on replica A: %d", i, r.status)
		}
	}
	if r := post(t, b.url, loginBody("bob", "guess")); r.status != http.StatusTooManyRequests {
		t.Fatalf("replica B after A's failures: %d", r.status)
	}
}

// A guest's name cannot be taken by another guest while its session is
// live: only a login naming that session gets it. (Before, logging in
// under the name kicked its owner and resumed their seat.)
func TestGuestNameCannotBeTakenOver(t *testing.T) {
	pres := presence.NewMemory()
	defer pres.Close()
	e := start(t, login.Config{Guest: true}, pres, nil)
	owner := post(t, e.url, loginBody("zed", ""))
	if owner.status != http.StatusOK {
		t.Fatalf("guest login: %d", owner.status)
	}
	for _, body := range []string{loginBody("zed", ""), resumeBody("zed", "0123456789abcdef0123456789abcdef")} {
		if a := post(t, e.url, body); a.status != http.StatusConflict || a.err.Error.Code != login.CodeNameInUse {
			t.Fatalf("%s: %d %+v, want 409 %s", body, a.status, a.err, login.CodeNameInUse)
		}
	}
	if live, _ := pres.Session(context.Background(), "zed"); live != owner.ok.Session {
		t.Fatalf("live session %q, want the owner's", live)
	}
	again := post(t, e.url, resumeBody("zed", owner.ok.Session))
	if again.status != http.StatusOK || !again.ok.Superseded {
		t.Fatalf("owner again: %d %+v", again.status, again.err)
	}
	// Logged out, the name is free.
	req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/logout", nil)
	req.Header.Set("Authorization", "Bearer "+again.ok.Ticket)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if a := post(t, e.url, loginBody("zed", "")); a.status != http.StatusOK {
		t.Fatalf("free name after logout: %d", a.status)
	}
}

func TestGuestLoginsLimitedPerAddress(t *testing.T) {
	pres := presence.NewMemory()
	defer pres.Close()
	e := start(t, login.Config{Guest: true, GuestBurst: 3, GuestEvery: time.Hour}, pres, nil)
	c := from("127.0.0.4")
	var first answer
	for i := range 3 {
		a := postWith(t, c, e.url, loginBody(fmt.Sprint("g", i), ""))
		if a.status != http.StatusOK {
			t.Fatalf("guest %d: %d", i, a.status)
		}
		if i == 0 {
			first = a
		}
	}
	a := postWith(t, c, e.url, loginBody("g3", ""))
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Fatalf("fourth new guest from one address: %d", a.status)
	}
	// A guest logging in again under its name costs nothing; another
	// address has its own budget.
	if a := postWith(t, c, e.url, resumeBody("g0", first.ok.Session)); a.status != http.StatusOK {
		t.Fatalf("guest again: %d %+v", a.status, a.err)
	}
	if a := postWith(t, from("127.0.0.5"), e.url, loginBody("g3", "")); a.status != http.StatusOK {
		t.Fatalf("guest from another address: %d", a.status)
	}
}

// Unknown and known accounts answer alike: the same status, code and
// message, after one bcrypt comparison each; a disabled account says so
// only to who knows its password.
func TestUnknownAndKnownAccountsLookAlike(t *testing.T) {
	st := sqliteStore(t)
	ctx := context.Background()
	hash, _ := bcrypt.GenerateFromPassword([]byte("the right one"), bcrypt.MinCost)
	for _, name := range []string{"known", "off"} {
		if err := st.CreateAccount(ctx, store.Account{Name: name, PasswordHash: hash, Source: store.SourceSignup}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetDisabled(ctx, "off", true); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ClaimGuest(ctx, "oldguest"); err != nil {
		t.Fatal(err)
	}
	dbURL := startStore(t, login.Config{PairBurst: 100, AddressBurst: 100}, st)
	fileEnv := start(t, login.Config{PairBurst: 100, AddressBurst: 100}, presence.NewMemory(), accountsFile(t))

	type seen struct {
		status  int
		code    string
		message string
	}
	check := func(url, account string) seen {
		t.Helper()
		before := login.HashCompares()
		a := post(t, url, loginBody(account, "wrong password"))
		if n := login.HashCompares() - before; n != 1 {
			t.Errorf("%s: %d bcrypt comparisons, want 1", account, n)
		}
		return seen{a.status, a.err.Error.Code, a.err.Error.Message}
	}
	want := check(dbURL, "nobody")
	if want.status != http.StatusUnauthorized {
		t.Fatalf("unknown account: %+v", want)
	}
	for _, c := range []struct{ url, account string }{
		{dbURL, "known"}, {dbURL, "off"}, {dbURL, "oldguest"}, {fileEnv.url, "alice"}, {fileEnv.url, "nobody"},
	} {
		if got := check(c.url, c.account); got != want {
			t.Errorf("%s: %+v, unknown account: %+v", c.account, got, want)
		}
	}
	if a := post(t, dbURL, loginBody("off", "the right one")); a.status != http.StatusForbidden || a.err.Error.Code != login.CodeAccountDisabled {
		t.Fatalf("disabled account with its password: %d %+v", a.status, a.err)
	}
}

// Past the bcrypt slots and queue a login is answered 503 LOGIN_BUSY with a
// Retry-After at once, not queued.
func TestBcryptWorkBounded(t *testing.T) {
	pres := presence.NewMemory()
	defer pres.Close()
	s, err := login.New(login.Config{BcryptConcurrency: 2, BcryptQueue: 3},
		login.Deps{Keys: keys(t), Presence: pres, Accounts: accountsFile(t), Log: logr.Discard(), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	release := s.HoldHashing()
	a := post(t, srv.URL, loginBody("alice", "wonderland"))
	if a.status != http.StatusServiceUnavailable || a.err.Error.Code != login.CodeBusy || a.header.Get("Retry-After") == "" {
		t.Fatalf("login with every slot taken: %d %+v", a.status, a.err)
	}
	release()
	if a := post(t, srv.URL, loginBody("alice", "wonderland")); a.status != http.StatusOK {
		t.Fatalf("login with slots free: %d %+v", a.status, a.err)
	}
}

// X-Forwarded-For names the client only when a trusted proxy sends it.
func TestTrustedProxies(t *testing.T) {
	pres := presence.NewMemory()
	defer pres.Close()
	proxies, err := login.ParseTrustedProxies("127.0.0.9, 10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, login.Config{PairBurst: 2, PairEvery: time.Hour, TrustedProxies: proxies}, pres, accountsFile(t))
	proxy, other := from("127.0.0.9"), from("127.0.0.10")
	for range 2 {
		postWith(t, proxy, e.url, loginBody("alice", "guess"), "X-Forwarded-For", "198.51.100.7")
	}
	if a := postWith(t, proxy, e.url, loginBody("alice", "guess"), "X-Forwarded-For", "198.51.100.7"); a.status != http.StatusTooManyRequests {
		t.Fatalf("the client behind the proxy past its burst: %d", a.status)
	}
	// Another client behind the same proxy (after a trusted inner hop) is another address.
	if a := postWith(t, proxy, e.url, loginBody("alice", "wonderland"), "X-Forwarded-For", "198.51.100.8, 10.1.2.3"); a.status != http.StatusOK {
		t.Fatalf("another client behind the proxy: %d %+v", a.status, a.err)
	}
	// An untrusted peer's header is ignored: it is limited as itself.
	for range 2 {
		postWith(t, other, e.url, loginBody("alice", "guess"), "X-Forwarded-For", "198.51.100.9")
	}
	if a := postWith(t, other, e.url, loginBody("alice", "guess"), "X-Forwarded-For", "198.51.100.10"); a.status != http.StatusTooManyRequests {
		t.Fatalf("an untrusted peer forging X-Forwarded-For escaped its limit: %d", a.status)
	}
	if _, err := login.ParseTrustedProxies("10.0.0.0/33"); err == nil {
		t.Fatal("accepted a bad prefix")
	}
}
