// Package storetest is the conformance suite every presence.Store passes.
// presence runs it against Memory and against a real redis-server.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gamehall/gamehall/presence"
)

// Wait is how long the suite polls for something that should happen soon
// (expiry, kick delivery): generous, for a busy machine.
const Wait = 20 * time.Second

// ShortTTL is the TTL used where the suite waits for entries to expire.
const ShortTTL = 300 * time.Millisecond

const long = time.Hour

// Run runs the suite. newStore returns a Store on an empty namespace; it is
// called once per subtest and should register its own cleanup.
func Run(t *testing.T, newStore func(t *testing.T) presence.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s presence.Store)
	}{
		{"LoginSupersedesAndKicks", testLoginSupersedes},
		{"SameSessionLoginNoKick", testSameSessionNoKick},
		{"Logout", testLogout},
		{"Touch", testTouch},
		{"SessionExpires", testSessionExpires},
		{"EnterRoom", testEnterRoom},
		{"StaleEntryYieldsToNewSession", testStaleEntryYields},
		{"RoomEntryExpiresWithoutHeartbeat", testRoomExpires},
		{"TouchRoom", testTouchRoom},
		{"GamesAreIndependent", testGamesIndependent},
		{"ConcurrentEnterOneWins", testConcurrentEnter},
		{"ConcurrentLoginsOneLive", testConcurrentLogins},
		{"Peers", testPeers},
		{"KicksEndWithContext", testKicksEnd},
		{"BadArguments", testBadArguments},
		{"ActiveSessions", testActiveSessions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

// Eventually polls cond until it holds or Wait passes.
func Eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", Wait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// NextKick waits for a kick on ch.
func NextKick(t *testing.T, ch <-chan presence.Kick) presence.Kick {
	t.Helper()
	select {
	case k, ok := <-ch:
		if !ok {
			t.Fatal("kick channel closed")
		}
		return k
	case <-time.After(Wait):
		t.Fatalf("no kick within %v", Wait)
	}
	return presence.Kick{}
}

func testLoginSupersedes(t *testing.T, s presence.Store) {
	c := ctx(t)
	kicks, err := s.Kicks(c)
	must(t, err)
	prev, err := s.Login(c, "alice", "s1", long)
	must(t, err)
	if prev != "" {
		t.Fatalf("first login superseded %q", prev)
	}
	prev, err = s.Login(c, "alice", "s2", long)
	must(t, err)
	if prev != "s1" {
		t.Fatalf("second login superseded %q, want s1", prev)
	}
	k := NextKick(t, kicks)
	if k != (presence.Kick{Account: "alice", Session: "s1", Reason: presence.KickReason}) {
		t.Fatalf("kick = %+v", k)
	}
	cur, err := s.Session(c, "alice")
	must(t, err)
	if cur != "s2" {
		t.Fatalf("live session %q, want s2", cur)
	}
}

func testSameSessionNoKick(t *testing.T, s presence.Store) {
	c := ctx(t)
	kicks, err := s.Kicks(c)
	must(t, err)
	must(t, second(s.Login(c, "bob", "s1", long)))
	prev, err := s.Login(c, "bob", "s1", long)
	must(t, err)
	if prev != "s1" {
		t.Fatalf("previous = %q, want s1", prev)
	}
	// A marker kick from another account proves no kick for bob came first.
	must(t, second(s.Login(c, "marker", "m1", long)))
	must(t, second(s.Login(c, "marker", "m2", long)))
	if k := NextKick(t, kicks); k.Account != "marker" {
		t.Fatalf("unexpected kick %+v", k)
	}
}

func testLogout(t *testing.T, s presence.Store) {
	c := ctx(t)
	must(t, second(s.Login(c, "a", "s1", long)))
	must(t, second(s.Login(c, "a", "s2", long)))
	must(t, s.Logout(c, "a", "s1")) // stale: no effect
	if cur, _ := s.Session(c, "a"); cur != "s2" {
		t.Fatalf("stale logout removed the live session: %q", cur)
	}
	must(t, s.Logout(c, "a", "s2"))
	if cur, _ := s.Session(c, "a"); cur != "" {
		t.Fatalf("session %q after logout", cur)
	}
	must(t, s.Logout(c, "nobody", "x"))
}

func testTouch(t *testing.T, s presence.Store) {
	c := ctx(t)
	must(t, second(s.Login(c, "a", "s1", long)))
	must(t, s.Touch(c, "a", "s1", long))
	must(t, second(s.Login(c, "a", "s2", long)))
	if err := s.Touch(c, "a", "s1", long); !errors.Is(err, presence.ErrSessionSuperseded) {
		t.Fatalf("touch of superseded session: %v", err)
	}
	// A session lost from the store (e.g. a restart) is restored by its holder.
	must(t, s.Touch(c, "lost", "s9", long))
	if cur, _ := s.Session(c, "lost"); cur != "s9" {
		t.Fatalf("touch did not restore a lost session: %q", cur)
	}
}

func testSessionExpires(t *testing.T, s presence.Store) {
	c := ctx(t)
	must(t, second(s.Login(c, "a", "s1", ShortTTL)))
	Eventually(t, "session to expire", func() bool {
		cur, err := s.Session(c, "a")
		must(t, err)
		return cur == ""
	})
	// After expiry a new login supersedes nothing.
	prev, err := s.Login(c, "a", "s2", long)
	must(t, err)
	if prev != "" {
		t.Fatalf("expired session %q reported as superseded", prev)
	}
}

func testEnterRoom(t *testing.T, s presence.Store) {
	c := ctx(t)
	here := presence.RoomKey{Shard: "ddz-0", Room: 3}
	there := presence.RoomKey{Shard: "ddz-1", Room: 51}
	if err := s.EnterRoom(c, "a", "s1", "ddz", here, long); !errors.Is(err, presence.ErrSessionSuperseded) {
		t.Fatalf("enter without login: %v", err)
	}
	must(t, second(s.Login(c, "a", "s1", long)))
	must(t, s.EnterRoom(c, "a", "s1", "ddz", here, long))
	must(t, s.EnterRoom(c, "a", "s1", "ddz", here, long)) // reconnect
	if err := s.EnterRoom(c, "a", "s1", "ddz", there, long); !errors.Is(err, presence.ErrInOtherRoom) {
		t.Fatalf("enter second room: %v", err)
	}
	where, ok, err := s.RoomOf(c, "a", "ddz")
	must(t, err)
	if !ok || where != here {
		t.Fatalf("RoomOf = %v %v", where, ok)
	}
	must(t, s.LeaveRoom(c, "a", "ddz", there)) // not there: no effect
	if _, ok, _ := s.RoomOf(c, "a", "ddz"); !ok {
		t.Fatal("leave of another room removed the entry")
	}
	must(t, s.LeaveRoom(c, "a", "ddz", here))
	if _, ok, _ := s.RoomOf(c, "a", "ddz"); ok {
		t.Fatal("entry still there after leave")
	}
	must(t, s.EnterRoom(c, "a", "s1", "ddz", there, long))
	// A superseded session cannot enter.
	must(t, second(s.Login(c, "a", "s2", long)))
	if err := s.EnterRoom(c, "a", "s1", "ddz", there, long); !errors.Is(err, presence.ErrSessionSuperseded) {
		t.Fatalf("enter with superseded session: %v", err)
	}
	if _, ok, _ := s.RoomOf(c, "nobody", "ddz"); ok {
		t.Fatal("RoomOf found an entry for an unknown account")
	}
}

// testStaleEntryYields: the player logs in again (old connection being
// kicked) and joins another room before the old shard has left.
func testStaleEntryYields(t *testing.T, s presence.Store) {
	c := ctx(t)
	old := presence.RoomKey{Shard: "ddz-0", Room: 1}
	fresh := presence.RoomKey{Shard: "ddz-2", Room: 101}
	must(t, second(s.Login(c, "a", "s1", long)))
	must(t, s.EnterRoom(c, "a", "s1", "ddz", old, long))
	must(t, second(s.Login(c, "a", "s2", long)))
	must(t, s.EnterRoom(c, "a", "s2", "ddz", fresh, long))
	must(t, s.LeaveRoom(c, "a", "ddz", old)) // the old shard cleans up late
	where, ok, err := s.RoomOf(c, "a", "ddz")
	must(t, err)
	if !ok || where != fresh {
		t.Fatalf("RoomOf = %v %v, want %v", where, ok, fresh)
	}
}

func testRoomExpires(t *testing.T, s presence.Store) {
	c := ctx(t)
	here := presence.RoomKey{Shard: "ddz-0", Room: 1}
	must(t, second(s.Login(c, "a", "s1", long)))
	must(t, s.EnterRoom(c, "a", "s1", "ddz", here, ShortTTL))
	// While the shard heartbeats, the entry stays.
	for range 3 {
		must(t, s.TouchRoom(c, "a", "ddz", here, long))
		if _, ok, _ := s.RoomOf(c, "a", "ddz"); !ok {
			t.Fatal("entry vanished while heartbeated")
		}
	}
	// The shard stops heartbeating (crash): the entry expires.
	must(t, s.TouchRoom(c, "a", "ddz", here, ShortTTL))
	Eventually(t, "room entry to expire", func() bool {
		_, ok, err := s.RoomOf(c, "a", "ddz")
		must(t, err)
		return !ok
	})
	// Then the player may enter elsewhere.
	must(t, s.EnterRoom(c, "a", "s1", "ddz", presence.RoomKey{Shard: "ddz-1", Room: 60}, long))
}

func testTouchRoom(t *testing.T, s presence.Store) {
	c := ctx(t)
	here := presence.RoomKey{Shard: "ddz-0", Room: 1}
	// Lost entry (store restarted): the shard's heartbeat restores it.
	must(t, s.TouchRoom(c, "a", "ddz", here, long))
	if where, ok, _ := s.RoomOf(c, "a", "ddz"); !ok || where != here {
		t.Fatalf("touch did not restore: %v %v", where, ok)
	}
	if err := s.TouchRoom(c, "a", "ddz", presence.RoomKey{Shard: "x", Room: 2}, long); !errors.Is(err, presence.ErrInOtherRoom) {
		t.Fatalf("touch of another place: %v", err)
	}
	// A restored entry has no session, so the player's live session may move on.
	must(t, second(s.Login(c, "a", "s1", long)))
	must(t, s.EnterRoom(c, "a", "s1", "ddz", presence.RoomKey{Shard: "ddz-3", Room: 151}, long))
}

func testGamesIndependent(t *testing.T, s presence.Store) {
	c := ctx(t)
	must(t, second(s.Login(c, "a", "s1", long)))
	must(t, s.EnterRoom(c, "a", "s1", "ddz", presence.RoomKey{Shard: "ddz-0", Room: 1}, long))
	must(t, s.EnterRoom(c, "a", "s1", "mahjong", presence.RoomKey{Shard: "mj-0", Room: 1}, long))
	must(t, second(s.Login(c, "b", "t1", long)))
	must(t, s.EnterRoom(c, "b", "t1", "ddz", presence.RoomKey{Shard: "ddz-0", Room: 1}, long))
	for _, g := range []struct{ acct, game, shard string }{{"a", "ddz", "ddz-0"}, {"a", "mahjong", "mj-0"}, {"b", "ddz", "ddz-0"}} {
		where, ok, err := s.RoomOf(c, g.acct, g.game)
		must(t, err)
		if !ok || where.Shard != g.shard {
			t.Fatalf("RoomOf(%s, %s) = %v %v", g.acct, g.game, where, ok)
		}
	}
}

func testConcurrentEnter(t *testing.T, s presence.Store) {
	c := ctx(t)
	must(t, second(s.Login(c, "a", "s1", long)))
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.EnterRoom(c, "a", "s1", "ddz", presence.RoomKey{Shard: fmt.Sprintf("ddz-%d", i), Room: i*50 + 1}, long)
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatalf("both %d and %d entered", won, i)
			}
			won = i
		case !errors.Is(err, presence.ErrInOtherRoom):
			t.Fatalf("enter %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("nobody entered")
	}
	where, _, _ := s.RoomOf(c, "a", "ddz")
	if where.Shard != fmt.Sprintf("ddz-%d", won) {
		t.Fatalf("entry at %v, winner was %d", where, won)
	}
}

// testConcurrentLogins: of many simultaneous logins, exactly one is live and
// every other one is reported superseded (by a kick) exactly once.
func testConcurrentLogins(t *testing.T, s presence.Store) {
	c := ctx(t)
	kicks, err := s.Kicks(c)
	must(t, err)
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := s.Login(c, "a", fmt.Sprintf("s%d", i), long); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	live, err := s.Session(c, "a")
	must(t, err)
	seen := map[string]bool{}
	for range n - 1 {
		k := NextKick(t, kicks)
		if seen[k.Session] || k.Session == live {
			t.Fatalf("kick %+v: duplicate or of the live session %q", k, live)
		}
		seen[k.Session] = true
	}
}

func testPeers(t *testing.T, s presence.Store) {
	c := ctx(t)
	a := presence.Peer{Name: "hall-a", Address: "http://10.0.0.1:8080", Clients: 10, Max: 100}
	b := presence.Peer{Name: "hall-b", Address: "http://10.0.0.2:8080", Clients: 5, Max: 100}
	must(t, s.Advertise(c, a, long))
	must(t, s.Advertise(c, b, ShortTTL))
	a.Clients = 11
	must(t, s.Advertise(c, a, long)) // update in place
	peers, err := s.Peers(c)
	must(t, err)
	if len(peers) != 2 || peers[0] != a || peers[1] != b {
		t.Fatalf("peers = %+v", peers)
	}
	Eventually(t, "hall-b to expire", func() bool {
		peers, err := s.Peers(c)
		must(t, err)
		return len(peers) == 1 && peers[0] == a
	})
}

func testKicksEnd(t *testing.T, s presence.Store) {
	c, cancel := context.WithCancel(context.Background())
	kicks, err := s.Kicks(c)
	must(t, err)
	cancel()
	Eventually(t, "kick channel to close", func() bool {
		select {
		case _, ok := <-kicks:
			return !ok
		default:
			return false
		}
	})
}

func testBadArguments(t *testing.T, s presence.Store) {
	c := ctx(t)
	k := presence.RoomKey{Shard: "x", Room: 1}
	tests := []struct {
		name string
		err  error
	}{
		{"login empty account", second(s.Login(c, "", "s", long))},
		{"login empty session", second(s.Login(c, "a", "", long))},
		{"login zero ttl", second(s.Login(c, "a", "s", 0))},
		{"touch empty session", s.Touch(c, "a", "", long)},
		{"enter empty game", s.EnterRoom(c, "a", "s", "", k, long)},
		{"enter empty session", s.EnterRoom(c, "a", "", "g", k, long)},
		{"enter room 0", s.EnterRoom(c, "a", "s", "g", presence.RoomKey{Shard: "x"}, long)},
		{"enter no shard", s.EnterRoom(c, "a", "s", "g", presence.RoomKey{Room: 1}, long)},
		{"touch room zero ttl", s.TouchRoom(c, "a", "g", k, 0)},
		{"advertise no name", s.Advertise(c, presence.Peer{Address: "http://x"}, long)},
		{"advertise no address", s.Advertise(c, presence.Peer{Name: "x"}, long)},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Errorf("%s: accepted", tt.name)
		} else if errors.Is(tt.err, presence.ErrUnavailable) {
			t.Errorf("%s: %v, want a validation error", tt.name, tt.err)
		}
	}
	if cur, _ := s.Session(c, "a"); cur != "" {
		t.Fatalf("a bad login stored session %q", cur)
	}
}

func second(_ string, err error) error { return err }

// SessionCounter is implemented by stores that count live sessions.
type SessionCounter interface {
	ActiveSessions(ctx context.Context) (int, error)
}

func testActiveSessions(t *testing.T, s presence.Store) {
	sc, ok := s.(SessionCounter)
	if !ok {
		t.Skip("store does not count sessions")
	}
	c := ctx(t)
	must(t, second(s.Login(c, "a", "s1", long)))
	must(t, second(s.Login(c, "a", "s2", long))) // supersedes: still one
	must(t, second(s.Login(c, "c", "u1", long)))
	must(t, s.Logout(c, "c", "u1"))
	must(t, second(s.Login(c, "b", "t1", ShortTTL)))
	n, err := sc.ActiveSessions(c)
	must(t, err)
	if n != 2 && n != 1 { // b may already have expired on a slow machine
		t.Fatalf("active sessions = %d, want 2 (a, b)", n)
	}
	Eventually(t, "b's session to stop counting", func() bool {
		n, err := sc.ActiveSessions(c)
		must(t, err)
		return n == 1
	})
}
