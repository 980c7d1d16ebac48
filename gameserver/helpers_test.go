package gameserver_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/protocol/pb"
	"github.com/gamehall/gamehall/ticket"
)

// env is one running shard with real TCP listeners on 127.0.0.1, the real
// ticket keyring and the in-memory presence store.
type env struct {
	t        *testing.T
	srv      *gameserver.Server
	keys     *ticket.Keyring
	pres     presence.Store
	cancel   context.CancelFunc
	done     chan error
	sessions atomic.Int64
	stopOnce sync.Once
}

func testLogger() logr.Logger {
	if os.Getenv("GAMEHALL_TEST_LOG") != "" {
		return logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(-4)}))
	}
	return logr.Discard()
}

// testKey is the tests' signing key "k1" (fixed, so a test can sign a
// ticket by hand with it).
var testKey = ed25519.NewKeyFromSeed([]byte("0123456789abcdef0123456789abcdef"))

func newKeys(t testing.TB) *ticket.Keyring {
	k, err := ticket.NewKeyring(map[string]ed25519.PrivateKey{"k1": testKey}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func startShard(t *testing.T, cfg gameserver.Config, pres presence.Store, keys *ticket.Keyring) *env {
	t.Helper()
	return startShardDeps(t, cfg, gameserver.Deps{Presence: pres, Verifier: keys})
}

// startShardDeps starts a shard with deps; an unset presence store or
// keyring gets the defaults of startShard.
func startShardDeps(t *testing.T, cfg gameserver.Config, deps gameserver.Deps) *env {
	t.Helper()
	keys, _ := deps.Verifier.(*ticket.Keyring)
	if keys == nil {
		keys = newKeys(t)
	}
	pres := deps.Presence
	if pres == nil {
		m := presence.NewMemory()
		t.Cleanup(func() { m.Close() })
		pres = m
	}
	deps.Verifier, deps.Presence, deps.Logger = keys, pres, testLogger()
	cfg.Addr, cfg.InternalAddr = "127.0.0.1:0", "127.0.0.1:0"
	if cfg.MsgRate == 0 { // bots move far faster than people; TestRateLimits sets its own
		cfg.MsgRate, cfg.MsgBurst = 10000, 10000
	}
	if cfg.Shard == "" {
		cfg.Shard = "test-0"
	}
	srv, err := gameserver.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, srv: srv, keys: keys, pres: pres, cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- srv.Run(ctx) }()
	t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	e.stopOnce.Do(func() {
		e.cancel()
		select {
		case <-e.done:
		case <-time.After(20 * time.Second):
			e.t.Error("shard did not stop within 20s")
		}
	})
}

// ticketFor logs a new session in presence and signs its ticket.
func (e *env) ticketFor(account string) (tok, session string) {
	e.t.Helper()
	session = fmt.Sprintf("s%d", e.sessions.Add(1))
	if _, err := e.pres.Login(context.Background(), account, session, time.Hour); err != nil {
		e.t.Fatal(err)
	}
	tok, err := e.keys.Sign(ticket.Player(account, session), time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok, session
}

// serviceTicket may do everything a service ticket can on a shard.
func (e *env) serviceTicket(aud ...ticket.Audience) string {
	if len(aud) == 0 {
		aud = []ticket.Audience{ticket.AudShardRead, ticket.AudShardDrain}
	}
	tok, err := e.keys.Sign(ticket.Service("hall", aud...), time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) addr() string { return e.srv.Addr().String() }

func (e *env) internalURL() string { return "http://" + e.srv.InternalAddr().String() }

func ctx20(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (e *env) dial(account string) *client.Conn {
	e.t.Helper()
	tok, _ := e.ticketFor(account)
	return dialWith(e.t, e.addr(), tok)
}

// dialWith connects to the shard at addr with ticket tok (the same session
// can so be dialed at several shards); the test's cleanup closes it.
func dialWith(t *testing.T, addr, tok string) *client.Conn {
	t.Helper()
	c, err := client.Dial(ctx20(t), addr, tok)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually polls cond for up to 20 s (generous: shared, noisy machines).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitEvent reads c's pushes until match returns true.
func waitEvent(t *testing.T, c *client.Conn, what string, match func(*pb.Envelope) bool) *pb.Envelope {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case env, ok := <-c.Events():
			if !ok {
				t.Fatalf("connection closed waiting for %s: %v", what, c.Err())
			}
			if match(env) {
				return env
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func wantCode(t *testing.T, err error, code pb.ErrorCode) *client.Error {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("got error %v, want %s", err, code)
	}
	return ce
}
