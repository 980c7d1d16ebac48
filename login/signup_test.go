package login_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/store"
	"github.com/gamehall/gamehall/store/pgtest"
)

func openStore(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn, store.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func sqliteStore(t *testing.T) store.Store {
	return openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "accounts.db"))
}

// startStore serves login with an accounts database.
func startStore(t *testing.T, cfg login.Config, st store.Accounts) string {
	t.Helper()
	cfg.BcryptCost = bcrypt.MinCost
	pres := presence.NewMemory()
	t.Cleanup(func() { pres.Close() })
	s, err := login.New(cfg, login.Deps{Keys: keys(t), Presence: pres, Store: st, Log: logr.Discard(), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// signup posts to /v1/accounts and returns the status and error code.
func signup(t *testing.T, url, account, password string) (int, string, http.Header) {
	t.Helper()
	b, _ := json.Marshal(login.Request{Account: account, Password: password})
	resp, err := http.Post(url+"/v1/accounts", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e login.ErrorBody
	if resp.StatusCode != http.StatusCreated {
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" {
			t.Fatalf("error body %s", body)
		}
	}
	return resp.StatusCode, e.Error.Code, resp.Header
}

func TestSignupThenLogin(t *testing.T) {
	st := sqliteStore(t)
	url := startStore(t, login.Config{SignupBurst: 100}, st)
	if code, ec, _ := signup(t, url, "ann", "correct horse battery"); code != http.StatusCreated {
		t.Fatalf("sign-up: %d %s", code, ec)
	}
	if a := post(t, url, loginBody("ann", "correct horse battery")); a.status != http.StatusOK || a.ok.Ticket == "" {
		t.Fatalf("login after sign-up: %d %+v", a.status, a.err)
	}
	if a := post(t, url, loginBody("ann", "wrong horse battery")); a.status != http.StatusUnauthorized || a.err.Error.Code != login.CodeInvalidCredentials {
		t.Fatalf("wrong password: %d %+v", a.status, a.err)
	}
	if a := post(t, url, loginBody("nobody", "whatever12345")); a.status != http.StatusUnauthorized {
		t.Fatalf("unknown account: %d %+v", a.status, a.err)
	}
	if code, ec, _ := signup(t, url, "ann", "another good password"); code != http.StatusConflict || ec != login.CodeAccountExists {
		t.Fatalf("second sign-up of a name: %d %s", code, ec)
	}
	for _, c := range []struct{ name, password, code string }{
		{"Ann", "correct horse battery", login.CodeInvalidAccountName}, // upper case
		{"an", "correct horse battery", login.CodeInvalidAccountName},  // too short
		{"9lives", "correct horse battery", login.CodeInvalidAccountName},
		{"admin", "correct horse battery", login.CodeInvalidAccountName}, // reserved
		{"bob", "short", login.CodeWeakPassword},
		{"bob", "my name is bob!", login.CodeWeakPassword},
		{"bob", "aaaaaaaaaaaa", login.CodeWeakPassword},
		{"bob", "Password123", login.CodeWeakPassword},
		{"bob", strings.Repeat("x", 40) + strings.Repeat("y", 40), login.CodeWeakPassword}, // over bcrypt's 72
	} {
		if code, ec, _ := signup(t, url, c.name, c.password); code != http.StatusBadRequest || ec != c.code {
			t.Errorf("sign-up %q/%q: %d %s, want 400 %s", c.name, c.password, code, ec, c.code)
		}
	}
	// An administrator disables the account: login says so.
	if err := st.SetDisabled(context.Background(), "ann", true); err != nil {
		t.Fatal(err)
	}
	if a := post(t, url, loginBody("ann", "correct horse battery")); a.status != http.StatusForbidden || a.err.Error.Code != login.CodeAccountDisabled {
		t.Fatalf("disabled account: %d %+v", a.status, a.err)
	}
}

func TestSignupRateLimitedPerAddress(t *testing.T) {
	url := startStore(t, login.Config{SignupBurst: 3}, sqliteStore(t))
	for i, name := range []string{"one", "two", "Three"} { // a refused attempt counts too
		if code, _, _ := signup(t, url, name, "correct horse battery"); code == http.StatusTooManyRequests {
			t.Fatalf("attempt %d limited", i)
		}
	}
	code, ec, h := signup(t, url, "four", "correct horse battery")
	if code != http.StatusTooManyRequests || ec != login.CodeRateLimited || h.Get("Retry-After") == "" {
		t.Fatalf("fourth sign-up from one address: %d %s (Retry-After %q)", code, ec, h.Get("Retry-After"))
	}
}

// In guest mode a free name is claimed by its first guest: nobody can sign
// it up later (and inherit its balances), and registered names still need
// their password.
func TestGuestsClaimNames(t *testing.T) {
	st := sqliteStore(t)
	url := startStore(t, login.Config{Guest: true, SignupBurst: 100}, st)
	if a := post(t, url, loginBody("zed", "")); a.status != http.StatusOK {
		t.Fatalf("guest login: %d %+v", a.status, a.err)
	}
	if code, ec, _ := signup(t, url, "zed", "correct horse battery"); code != http.StatusConflict || ec != login.CodeAccountExists {
		t.Fatalf("sign-up of a guest's name: %d %s", code, ec)
	}
	if code, _, _ := signup(t, url, "amy", "correct horse battery"); code != http.StatusCreated {
		t.Fatal("sign-up failed")
	}
	if a := post(t, url, loginBody("amy", "")); a.status != http.StatusUnauthorized {
		t.Fatalf("guest login as a registered account: %d", a.status)
	}
	if a := post(t, url, loginBody("zed", "a password")); a.status != http.StatusUnauthorized {
		t.Fatalf("guest with a password: %d", a.status)
	}
}

func TestSignupWithoutDatabase(t *testing.T) {
	e := start(t, login.Config{Guest: true}, presence.NewMemory(), nil)
	if code, ec, _ := signup(t, e.url, "ann", "correct horse battery"); code != http.StatusNotImplemented || ec != login.CodeSignupDisabled {
		t.Fatalf("sign-up without a database: %d %s", code, ec)
	}
}

// A dead accounts database: login and sign-up answer 503 with a retry hint,
// and work again once it is back.
func TestAccountsDatabaseDown(t *testing.T) {
	pg := pgtest.Start(t)
	st := openStore(t, pg.NewDatabase(t))
	url := startStore(t, login.Config{SignupBurst: 100}, st)
	if code, _, _ := signup(t, url, "ann", "correct horse battery"); code != http.StatusCreated {
		t.Fatal("sign-up failed")
	}
	pg.Kill()
	a := post(t, url, loginBody("ann", "correct horse battery"))
	if a.status != http.StatusServiceUnavailable || a.err.Error.Code != login.CodeAccountsUnavailable || a.header.Get("Retry-After") == "" {
		t.Fatalf("login with the database down: %d %+v", a.status, a.err)
	}
	if code, ec, _ := signup(t, url, "bob", "correct horse battery"); code != http.StatusServiceUnavailable || ec != login.CodeAccountsUnavailable {
		t.Fatalf("sign-up with the database down: %d %s", code, ec)
	}
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for { // the pool's dead connections go first
		a = post(t, url, loginBody("ann", "correct horse battery"))
		if a.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("login after the database came back: %d %+v", a.status, a.err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestImportAccountsFile(t *testing.T) {
	st := sqliteStore(t)
	file := accountsFile(t) // alice, bob
	r, err := file.ImportInto(context.Background(), st)
	if err != nil || r.Added != 2 {
		t.Fatalf("import: %+v, %v", r, err)
	}
	url := startStore(t, login.Config{}, st)
	if a := post(t, url, loginBody("alice", "wonderland")); a.status != http.StatusOK {
		t.Fatalf("imported account: %d %+v", a.status, a.err)
	}
}
