package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gamehall/gamehall/store"
	"github.com/gamehall/gamehall/store/pgtest"
)

// A dead database answers ErrUnavailable within the operation timeout, and
// the same Store works again once the server is back.
func TestPostgresOutage(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	ctx := context.Background()
	s, err := store.Open(ctx, dsn, store.Options{Migrate: true, OpTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g := store.Settlement{GameID: "g1", Region: "r", EndedAt: time.Now(), Record: []byte{1},
		Seats: []store.Seat{{Account: "a", Delta: 2}, {Account: "b", Delta: -1}, {Account: "c", Delta: -1}}}

	srv.Kill()
	if _, err := s.Settle(ctx, g); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("settle on a dead database: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("ping of a dead database: %v, want ErrUnavailable", err)
	}
	if _, err := store.Open(ctx, dsn, store.Options{OpTimeout: time.Second}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("open of a dead database: %v, want ErrUnavailable", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// The pool reconnects by itself; the first call may still meet a
	// connection that died with the old server.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.Settle(ctx, g)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("settle after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r, err := s.Check(ctx, "r"); err != nil || !r.OK() || r.Games != 1 {
		t.Fatalf("after the outage: %v, %v", r, err)
	}
}

func TestOpenRefusesUnknownURLs(t *testing.T) {
	for _, dsn := range []string{"mysql://x", "", "redis://localhost"} {
		if _, err := store.Open(context.Background(), dsn, store.Options{}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", dsn, err)
		}
	}
	if got := store.Redact("postgres://gamehall:s3cret@db:5432/x"); got != "postgres://gamehall:xxxxx@db:5432/x" {
		t.Errorf("redact: %s", got)
	}
}

func TestGameIDNamesItsRegion(t *testing.T) {
	id := store.NewGameID("doudizhu-zone1-south", time.Now())
	if r, ok := store.GameRegion(id); !ok || r != "doudizhu-zone1-south" {
		t.Fatalf("GameRegion(%s) = %q, %v", id, r, ok)
	}
	if id2 := store.NewGameID("doudizhu-zone1-south", time.Now()); id2 == id {
		t.Fatal("two game ids alike")
	}
	for _, bad := range []string{"", "x", "south-XYZ", "south-0123456789abcdef0123456Z", "-0123456789abcdef01234567", "south-0123456789ABCDEF01234567"} {
		if r, ok := store.GameRegion(bad); ok {
			t.Errorf("GameRegion(%q) = %q, want not a game id", bad, r)
		}
	}
}
