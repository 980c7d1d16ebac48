package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/gamehall/gamehall/presence"
)

// beat keeps shard alive for alive (a Refresh with no holds) and answers
// whether its liveness had lapsed.
func beat(t *testing.T, s presence.Store, shard string, alive time.Duration) bool {
	t.Helper()
	errs, lapsed, err := s.Refresh(ctx(t), presence.Beat{Shard: shard, Alive: alive}, nil, long)
	must(t, err)
	if len(errs) != 0 {
		t.Fatalf("a beat with no holds answered %v", errs)
	}
	return lapsed
}

// testDeadShardReleased: a shard that stops beating (killed) releases its
// entries once its liveness lapses, long before the entries' TTL: the same
// session enters elsewhere. If the shard was only cut off, its next Refresh
// says its liveness lapsed and that the account now plays elsewhere, and
// does not take the entry back.
func testDeadShardReleased(t *testing.T, s presence.Store) {
	c := ctx(t)
	old := presence.RoomKey{Shard: "ddz-0", Room: 1}
	fresh := presence.RoomKey{Shard: "ddz-1", Room: 51}
	if !beat(t, s, fresh.Shard, long) {
		t.Fatal("the first beat of a shard did not say its liveness had lapsed")
	}
	if beat(t, s, fresh.Shard, long) {
		t.Fatal("a beat within the liveness said it had lapsed")
	}
	must(t, second(s.Login(c, "a", "s1", long)))
	beat(t, s, old.Shard, ShortTTL)
	must(t, s.EnterRoom(c, "a", "s1", "ddz", old, long))
	// ddz-0 beats no more. Refused while it is alive, admitted once it is not.
	Eventually(t, "ddz-0's entry to be released", func() bool {
		err := s.EnterRoom(c, "a", "s1", "ddz", fresh, long)
		if err != nil && !errors.Is(err, presence.ErrInOtherRoom) {
			t.Fatalf("enter at ddz-1: %v", err)
		}
		return err == nil
	})
	if where, ok, _ := s.RoomOf(c, "a", "ddz"); !ok || where != fresh {
		t.Fatalf("RoomOf = %v %v, want %v", where, ok, fresh)
	}

	// ddz-0 was only cut off and comes back: it must give the seat up.
	errs, lapsed, err := s.Refresh(c, presence.Beat{Shard: old.Shard, Alive: long}, []presence.Hold{seated("a", "s1", "ddz", old)}, long)
	must(t, err)
	if !lapsed || !errors.Is(errs[0], presence.ErrInOtherRoom) {
		t.Fatalf("the returning shard's refresh: lapsed %v, %v; want lapsed, ErrInOtherRoom", lapsed, errs[0])
	}
	if where, _, _ := s.RoomOf(c, "a", "ddz"); where != fresh {
		t.Fatalf("the returning shard took the entry back: %v", where)
	}
	// And, alive again, its entries block again.
	must(t, second(s.Login(c, "b", "t1", long)))
	must(t, s.EnterRoom(c, "b", "t1", "ddz", old, long))
	if err := s.EnterRoom(c, "b", "t1", "ddz", fresh, long); !errors.Is(err, presence.ErrInOtherRoom) {
		t.Fatalf("enter elsewhere while ddz-0 is alive again: %v", err)
	}
}

// testAliveShardKeepsEntry: a shard that beats within its liveness keeps
// its entries for as long as it beats, though the liveness is short: the
// same session is refused elsewhere all along (one room per game).
func testAliveShardKeeps(t *testing.T, s presence.Store) {
	c := ctx(t)
	here := presence.RoomKey{Shard: "ddz-0", Room: 1}
	there := presence.RoomKey{Shard: "ddz-1", Room: 51}
	// The beat period is a twentieth of the liveness, so a busy machine's
	// stall does not make the live shard look dead.
	const alive, period = time.Second, 50 * time.Millisecond
	beat(t, s, there.Shard, long)
	must(t, second(s.Login(c, "a", "s1", long)))
	beat(t, s, here.Shard, alive)
	must(t, s.EnterRoom(c, "a", "s1", "ddz", here, long))
	for start := time.Now(); time.Since(start) < 3*alive; time.Sleep(period) {
		beat(t, s, here.Shard, alive)
		if err := s.EnterRoom(c, "a", "s1", "ddz", there, long); !errors.Is(err, presence.ErrInOtherRoom) {
			t.Fatalf("enter elsewhere while the shard beats (after %v): %v", time.Since(start), err)
		}
		if errs := refresh(t, s, long, seated("a", "s1", "ddz", there)); !errors.Is(errs[0], presence.ErrInOtherRoom) {
			t.Fatalf("refresh elsewhere while the shard beats: %v", errs[0])
		}
	}
	if where, _, _ := s.RoomOf(c, "a", "ddz"); where != here {
		t.Fatalf("the entry moved to %v", where)
	}
}
