package login_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/presence/redistest"
	"github.com/gamehall/gamehall/presence/storetest"
	"github.com/gamehall/gamehall/ticket"
)

func keys(t testing.TB) *ticket.Keyring {
	k, err := ticket.NewRandomKeyring("k1")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func accountsFile(t testing.TB) *login.Accounts {
	p := filepath.Join(t.TempDir(), "accounts")
	for name, pw := range map[string]string{"alice": "wonderland", "bob": "builder"} {
		if err := login.AddAccount(p, name, pw, bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
	}
	a, err := login.LoadAccounts(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type env struct {
	url   string
	keys  *ticket.Keyring
	store presence.Store
	reg   *prometheus.Registry
}

func start(t testing.TB, cfg login.Config, store presence.Store, accts *login.Accounts) env {
	k := keys(t)
	reg := prometheus.NewRegistry()
	s, err := login.New(cfg, login.Deps{Keys: k, Presence: store, Accounts: accts, Log: logr.Discard(), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return env{url: srv.URL, keys: k, store: store, reg: reg}
}

func redisStore(t testing.TB, srv *redistest.Server) presence.Store {
	return presence.NewRedis(srv.Client(t), "gh:")
}

type answer struct {
	status int
	header http.Header
	ok     login.Response
	err    login.ErrorBody
}

func post(t testing.TB, url, body string) answer {
	t.Helper()
	resp, err := http.Post(url+"/v1/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q, body %s", ct, b)
	}
	if resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(b, &a.ok)
	} else {
		err = json.Unmarshal(b, &a.err)
		if a.err.Error.Code == "" || a.err.Error.Message == "" {
			t.Fatalf("error body without code or message: %s", b)
		}
	}
	if err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return a
}

func loginBody(account, password string) string {
	b, _ := json.Marshal(login.Request{Account: account, Password: password})
	return string(b)
}

// resumeBody is a guest's login again under its name, naming its session.
func resumeBody(account, session string) string {
	b, _ := json.Marshal(login.Request{Account: account, Session: session})
	return string(b)
}

func TestLoginAnswers(t *testing.T) {
	srv := redistest.Start(t)
	accts := accountsFile(t)
	guestOnly := start(t, login.Config{Guest: true, HallURL: "http://hall.test"}, redisStore(t, srv), nil)
	fileOnly := start(t, login.Config{}, redisStore(t, srv), accts)
	both := start(t, login.Config{Guest: true}, redisStore(t, srv), accts)

	tests := []struct {
		name   string
		env    env
		body   string
		status int
		code   string
	}{
		{"guest", guestOnly, loginBody("guest1", ""), 200, ""},
		{"guest with password", guestOnly, loginBody("guest1", "x"), 401, login.CodeInvalidCredentials},
		{"account", fileOnly, loginBody("alice", "wonderland"), 200, ""},
		{"wrong password", fileOnly, loginBody("bob", "nope"), 401, login.CodeInvalidCredentials},
		{"unknown account, no guests", fileOnly, loginBody("carol", ""), 401, login.CodeInvalidCredentials},
		{"guest cannot take a real account", both, loginBody("alice", ""), 401, login.CodeInvalidCredentials},
		{"guest beside accounts", both, loginBody("dave", ""), 200, ""},
		{"bad name", guestOnly, loginBody("no spaces", ""), 400, login.CodeInvalidAccountName},
		{"empty name", guestOnly, loginBody("", ""), 400, login.CodeInvalidAccountName},
		{"not json", guestOnly, "account=alice", 400, login.CodeBadRequest},
		{"unknown field", guestOnly, `{"account":"a","admin":true}`, 400, login.CodeBadRequest},
		{"trailing data", guestOnly, `{"account":"a"}{}`, 400, login.CodeBadRequest},
		{"huge body", guestOnly, `{"account":"` + strings.Repeat("a", 10000) + `"}`, 400, login.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, tt.env.url, tt.body)
			if a.status != tt.status || a.err.Error.Code != tt.code {
				t.Fatalf("status %d code %q (%s), want %d %q", a.status, a.err.Error.Code, a.err.Error.Message, tt.status, tt.code)
			}
			if a.status != 200 {
				return
			}
			c, err := tt.env.keys.Verify(a.ok.Ticket, ticket.AudPlayer)
			if err != nil {
				t.Fatal(err)
			}
			if c.Account != a.ok.Account || c.Session != a.ok.Session || !c.Has(ticket.AudPlayer) || c.KeyID != a.ok.KeyID {
				t.Fatalf("claims %+v vs answer %+v", c, a.ok)
			}
			if live, _ := tt.env.store.Session(context.Background(), c.Account); live != c.Session {
				t.Fatalf("presence has session %q, ticket %q", live, c.Session)
			}
		})
	}
	if a := post(t, guestOnly.url, loginBody("g2", "")); len(a.ok.Halls) == 0 || a.ok.Halls[0] != "http://hall.test" {
		t.Fatalf("halls = %v", a.ok.Halls)
	}
	resp, err := http.Get(guestOnly.url + "/v1/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /v1/login: %d", resp.StatusCode)
	}
	if n := testutil.ToFloat64(testutilCounter(t, guestOnly.reg, "ok")); n < 2 {
		t.Fatalf("gamehall_logins_total{result=ok} = %v", n)
	}
}

// testutilCounter finds gamehall_logins_total{result} in reg.
func testutilCounter(t *testing.T, reg *prometheus.Registry, result string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gamehall_logins_total" {
			continue
		}
		for _, m := range mf.Metric {
			if m.GetLabel()[0].GetValue() == result {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	t.Fatalf("no gamehall_logins_total{result=%q}", result)
	return nil
}

// TestSupersedeAcrossHalls: two hall processes share one Redis; a login on
// the second kicks the session made on the first, on the shard's channel.
func TestSupersedeAcrossHalls(t *testing.T) {
	srv := redistest.Start(t)
	hallA := start(t, login.Config{Guest: true}, redisStore(t, srv), nil)
	hallB := start(t, login.Config{Guest: true}, redisStore(t, srv), nil)
	shard := redisStore(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kicks, err := shard.Kicks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := post(t, hallA.url, loginBody("zed", ""))
	// The guest logs in again on another replica, naming its session.
	second := post(t, hallB.url, resumeBody("zed", first.ok.Session))
	if first.status != 200 || second.status != 200 {
		t.Fatalf("logins: %d %d", first.status, second.status)
	}
	if first.ok.Superseded || !second.ok.Superseded {
		t.Fatalf("superseded flags: %v %v", first.ok.Superseded, second.ok.Superseded)
	}
	k := storetest.NextKick(t, kicks)
	if k.Account != "zed" || k.Session != first.ok.Session || k.Reason != presence.KickReason {
		t.Fatalf("kick %+v, want session %s", k, first.ok.Session)
	}
	// The superseded session can no longer take a seat.
	err = shard.EnterRoom(ctx, "zed", first.ok.Session, "ddz", presence.RoomKey{Shard: "s", Room: 1}, time.Minute)
	if err == nil {
		t.Fatal("superseded session entered a room")
	}
}

func TestFailedLoginsRateLimited(t *testing.T) {
	store := presence.NewMemory()
	defer store.Close()
	e := start(t, login.Config{PairBurst: 3, PairEvery: time.Hour, AddressBurst: 6, AddressEvery: time.Hour}, store, accountsFile(t))

	for i := range 3 {
		if a := post(t, e.url, loginBody("alice", "bad")); a.status != 401 {
			t.Fatalf("failure %d: %d", i, a.status)
		}
	}
	// The account is now limited from this address, even with the right password.
	a := post(t, e.url, loginBody("alice", "wonderland"))
	if a.status != http.StatusTooManyRequests || a.err.Error.Code != login.CodeRateLimited {
		t.Fatalf("after 3 failures: %d %+v", a.status, a.err)
	}
	if s, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || s < 1 || s != a.err.Error.RetryAfterSeconds {
		t.Fatalf("Retry-After %q, body %d", a.header.Get("Retry-After"), a.err.Error.RetryAfterSeconds)
	}
	// Another account from the same address still works, and a success
	// gives its token back ...
	for range 5 {
		if a := post(t, e.url, loginBody("bob", "builder")); a.status != 200 {
			t.Fatalf("bob: %d", a.status)
		}
	}
	// ... until the address has spent its own budget (6 attempts).
	for i := range 3 {
		if a := post(t, e.url, loginBody("bob", "bad")); a.status != 401 {
			t.Fatalf("bob failure %d: %d", i, a.status)
		}
	}
	if a := post(t, e.url, loginBody("bob", "builder")); a.status != http.StatusTooManyRequests {
		t.Fatalf("address over budget: %d", a.status)
	}
}

// TestRedisDown: login answers 503 PRESENCE_UNAVAILABLE while Redis is
// gone and works again when it is back.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	e := start(t, login.Config{Guest: true}, redisStore(t, srv), nil)
	before := post(t, e.url, loginBody("p", ""))
	if before.status != 200 {
		t.Fatalf("before: %d", before.status)
	}
	srv.Stop()
	a := post(t, e.url, resumeBody("p", before.ok.Session))
	if a.status != http.StatusServiceUnavailable || a.err.Error.Code != login.CodePresenceUnavailable || a.header.Get("Retry-After") == "" {
		t.Fatalf("Redis down: %d %+v", a.status, a.err)
	}
	srv.Restart()
	storetest.Eventually(t, "login to work again", func() bool {
		return post(t, e.url, resumeBody("p", before.ok.Session)).status == 200
	})
}

func TestLogout(t *testing.T) {
	store := presence.NewMemory()
	defer store.Close()
	e := start(t, login.Config{Guest: true}, store, nil)
	a := post(t, e.url, loginBody("p", ""))
	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"no ticket", "", 401},
		{"forged", "Bearer x.y.z", 401},
		{"ok", "Bearer " + a.ok.Ticket, 204},
	} {
		req, _ := http.NewRequest("POST", e.url+"/v1/logout", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
	if s, _ := store.Session(context.Background(), "p"); s != "" {
		t.Fatalf("session %q after logout", s)
	}
}

func TestNewRefusesNobodyCanLogIn(t *testing.T) {
	store := presence.NewMemory()
	defer store.Close()
	if _, err := login.New(login.Config{}, login.Deps{Keys: keys(t), Presence: store}); err == nil {
		t.Fatal("accepted a config where nobody can log in")
	}
}

func TestAccountsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "accounts")
	os.WriteFile(p, []byte("# players\n\n"), 0o600)
	if err := login.AddAccount(p, "alice", "one", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	if err := login.AddAccount(p, "alice", "two", bcrypt.MinCost); err != nil { // replace
		t.Fatal(err)
	}
	if err := login.AddAccount(p, "bad name", "x", bcrypt.MinCost); err == nil {
		t.Fatal("added a bad name")
	}
	a, err := login.LoadAccounts(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(a.Names(), ",") != "alice" {
		t.Fatalf("names %v", a.Names())
	}
	if a.Check("alice", "one") == nil || a.Check("alice", "two") != nil {
		t.Fatal("password not replaced")
	}
	b, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(b), "# players\n") {
		t.Fatalf("comment lost: %q", b)
	}
}

func TestParseAccountsErrors(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	tests := []struct{ name, in, msg string }{
		{"no colon", "alice", "line 1: want name:bcrypt-hash"},
		{"bad hash", "alice:plain", "not a bcrypt hash"},
		{"bad name", "a b:" + string(h), "account name"},
		{"duplicate", "a:" + string(h) + "\na:" + string(h), "line 2: account \"a\" listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := login.ParseAccounts([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %q", err, tt.msg)
			}
		})
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(`{"account":"alice","password":"x"}`)
	f.Add(`{"account":1}`)
	f.Add(`{}`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, in string) {
		req, err := login.DecodeRequest(strings.NewReader(in))
		if err == nil && len(req.Password) > 72 {
			t.Fatalf("accepted a %d-byte password", len(req.Password))
		}
	})
}

func FuzzParseAccounts(f *testing.F) {
	f.Add("alice:$2a$04$abcdefghijklmnopqrstuu5Kx9Vt4nZyq8oF0rH0qAzY1Yb5H7Cz6\n")
	f.Add("# c\n\nx:y\n")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := login.ParseAccounts([]byte(in))
		if err != nil {
			return
		}
		for name := range m {
			if login.ValidAccountName(name) != nil {
				t.Fatalf("accepted bad name %q", name)
			}
		}
	})
}
