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
		{"LogoutKicks", testLogoutKicks},
		{"EnterRestoresLostSession", testEnterRestoresLostSession},
		{"Refresh", testRefresh},
		{"SessionExpires", testSessionExpires},
		{"EnterRoom", testEnterRoom},
		{"StaleEntryYieldsToNewSession", testStaleEntryYields},
		{"RoomEntryExpiresWithoutHeartbeat", testRoomExpires},
		{"RefreshRoom", testRefreshRoom},
		{"DeadShardEntryReleased", testDeadShardReleased},
		{"AliveShardKeepsEntry", testAliveShardKeeps},
		{"GamesAreIndependent", testGamesIndependent},
		{"ConcurrentEnterOneWins", testConcurrentEnter},
		{"ConcurrentLoginsOneLive", testConcurrentLogins},
		{"Peers", testPeers},
		{"KicksEndWithContext", testKicksEnd},
		{"BadArguments", testBadArguments},
		{"ActiveSessions", testActiveSessions},
		{"LoginIfHoldsAName", testLoginIf},
		{"LimiterTake", limiter(testTake)},
		{"LimiterTakeRefills", limiter(testTakeRefills)},
		{"LimiterParallelTakesNeverExceed", limiter(testParallelTakes)},
		{"LimiterLoginBuckets", limiter(testLoginBuckets)},
		{"LimiterLoginAccountSlowsThenRefuses", limiter(testLoginAccountSlows)},
		{"LimiterParallelLoginsNeverExceed", limiter(testParallelLogins)},
		{"LimiterBadArguments", limiter(testLimiterBadArguments)},
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

// testLogoutKicks: the shard holding a session that logs out disconnects it.
func testLogoutKicks(t *testing.T, s presence.Store) {
	c := ctx(t)
	kicks, err := s.Kicks(c)
	must(t, err)
	must(t, second(s.Login(c, "a", "s1", long)))
	must(t, s.Logout(c, "a", "s1"))
	if k := NextKick(t, kicks); k != (presence.Kick{Account: "a", Session: "s1", Reason: presence.LogoutReason}) {
		t.Fatalf("kick = %+v", k)
	}
}

// testEnterRestoresLostSession: a session the store lost (a restart, an
// expiry while its holder was cut off from the store) is restored by a
// holder of its ticket entering a room: the store is a cache of what the
// shards know, not the only truth.
func testEnterRestoresLostSession(t *testing.T, s presence.Store) {
	c := ctx(t)
	here := presence.RoomKey{Shard: "ddz-0", Room: 3}
	must(t, second(s.Login(c, "a", "s1", ShortTTL)))
	Eventually(t, "session to be lost", func() bool {
		cur, err := s.Session(c, "a")
		must(t, err)
		return cur == ""
	})
	must(t, s.EnterRoom(c, "a", "s1", "ddz", here, long))
	if cur, _ := s.Session(c, "a"); cur != "s1" {
		t.Fatalf("live session %q after the entry, want s1 restored", cur)
	}
	// A newer login still wins.
	must(t, second(s.Login(c, "a", "s2", long)))
	if err := s.EnterRoom(c, "a", "s1", "ddz", here, long); !errors.Is(err, presence.ErrSessionSuperseded) {
		t.Fatalf("enter with the superseded session: %v", err)
	}
}

func hold(account, session string) presence.Hold {
	return presence.Hold{Account: account, Session: session}
}

func seated(account, session, game string, where presence.RoomKey) presence.Hold {
	return presence.Hold{Account: account, Session: session, Game: game, Room: where}
}

// refresh runs one Refresh of the holds' shard ("ddz-0" if none is seated),
// which stays alive long, and returns its per-hold errors.
func refresh(t *testing.T, s presence.Store, ttl time.Duration, holds ...presence.Hold) []error {
	t.Helper()
	beat := presence.Beat{Shard: "ddz-0", Alive: long}
	for _, h := range holds {
		if h.Game != "" {
			beat.Shard = h.Room.Shard
		}
	}
	errs, _, err := s.Refresh(ctx(t), beat, holds, ttl)
	must(t, err)
	if len(errs) != len(holds) {
		t.Fatalf("Refresh answered %d results for %d holds", len(errs), len(holds))
	}
	return errs
}

// testRefresh: the shard's heartbeat keeps its sessions, restores lost
// ones, and learns which were superseded — all in one call.
func testRefresh(t *testing.T, s presence.Store) {
	c := ctx(t)
	must(t, second(s.Login(c, "a", "s1", long)))
	must(t, second(s.Login(c, "b", "t1", long)))
	must(t, second(s.Login(c, "b", "t2", long)))
	errs := refresh(t, s, long, hold("a", "s1"), hold("b", "t1"), hold("lost", "s9"))
	if errs[0] != nil || !errors.Is(errs[1], presence.ErrSessionSuperseded) || errs[2] != nil {
		t.Fatalf("refresh errors %v, want [nil superseded nil]", errs)
	}
	// A session lost from the store (e.g. a restart) is restored by its holder.
	if cur, _ := s.Session(c, "lost"); cur != "s9" {
		t.Fatalf("refresh did not restore a lost session: %q", cur)
	}
	if cur, _ := s.Session(c, "b"); cur != "t2" {
		t.Fatalf("refresh of a superseded session changed the live one: %q", cur)
	}
	// A heartbeat keeps a session alive beyond its login's TTL, but never
	// shortens a longer one.
	must(t, second(s.Login(c, "short", "x1", ShortTTL)))
	must(t, second(s.Login(c, "longer", "y1", long)))
	for range 3 {
		refresh(t, s, long, hold("short", "x1"))
		refresh(t, s, ShortTTL, hold("longer", "y1"))
		time.Sleep(ShortTTL / 2)
	}
	time.Sleep(ShortTTL)
	for account, want := range map[string]string{"short": "x1", "longer": "y1"} {
		if cur, _ := s.Session(c, account); cur != want {
			t.Fatalf("%s: live session %q after heartbeats, want %q", account, cur, want)
		}
	}
	if errs, _, err := s.Refresh(c, presence.Beat{Shard: "ddz-0", Alive: long}, nil, long); err != nil || len(errs) != 0 {
		t.Fatalf("empty refresh: %v %v", errs, err)
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
	b := presence.Beat{Shard: "x", Alive: long}
	tests := []struct {
		name string
		err  error
	}{
		{"login empty account", second(s.Login(c, "", "s", long))},
		{"login empty session", second(s.Login(c, "a", "", long))},
		{"login zero ttl", second(s.Login(c, "a", "s", 0))},
		{"refresh empty session", third(s.Refresh(c, b, []presence.Hold{hold("a", "")}, long))},
		{"refresh no shard", third(s.Refresh(c, presence.Beat{Alive: long}, nil, long))},
		{"refresh zero alive", third(s.Refresh(c, presence.Beat{Shard: "x"}, nil, long))},
		{"refresh another shard's hold", third(s.Refresh(c, presence.Beat{Shard: "y", Alive: long}, []presence.Hold{seated("a", "s", "g", k)}, long))},
		{"enter empty game", s.EnterRoom(c, "a", "s", "", k, long)},
		{"enter empty session", s.EnterRoom(c, "a", "", "g", k, long)},
		{"enter room 0", s.EnterRoom(c, "a", "s", "g", presence.RoomKey{Shard: "x"}, long)},
		{"enter no shard", s.EnterRoom(c, "a", "s", "g", presence.RoomKey{Room: 1}, long)},
		{"refresh zero ttl", third(s.Refresh(c, b, []presence.Hold{seated("a", "s", "g", k)}, 0))},
		{"refresh room 0", third(s.Refresh(c, b, []presence.Hold{seated("a", "s", "g", presence.RoomKey{Shard: "x"})}, long))},
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

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }

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
