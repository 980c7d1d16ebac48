package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gamehall/gamehall/presence"
)

func testEnterRoom(t *testing.T, s presence.Store) {
	c := ctx(t)
	here := presence.RoomKey{Shard: "ddz-0", Room: 3}
	there := presence.RoomKey{Shard: "ddz-1", Room: 51}
	must(t, second(s.Login(c, "a", "s1", long)))
	beat(t, s, here.Shard, long)
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
// kicked) and joins another room before the old shard has left: the old
// shard is told to give the seat up.
func testStaleEntryYields(t *testing.T, s presence.Store) {
	c := ctx(t)
	kicks, err := s.Kicks(c)
	must(t, err)
	old := presence.RoomKey{Shard: "ddz-0", Room: 1}
	fresh := presence.RoomKey{Shard: "ddz-2", Room: 101}
	must(t, second(s.Login(c, "a", "s1", long)))
	must(t, s.EnterRoom(c, "a", "s1", "ddz", old, long))
	must(t, second(s.Login(c, "a", "s2", long)))
	if k := NextKick(t, kicks); k.Session != "s1" || k.Reason != presence.KickReason {
		t.Fatalf("login kick %+v", k)
	}
	must(t, s.EnterRoom(c, "a", "s2", "ddz", fresh, long))
	// The old seat's holder is told to give it up: one room per game.
	if k := NextKick(t, kicks); k != (presence.Kick{Account: "a", Session: "s1", Reason: presence.MovedReason}) {
		t.Fatalf("moved kick %+v", k)
	}
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
		refresh(t, s, long, seated("a", "s1", "ddz", here))
		if _, ok, _ := s.RoomOf(c, "a", "ddz"); !ok {
			t.Fatal("entry vanished while heartbeated")
		}
	}
	// The shard stops heartbeating (crash): the entry expires.
	refresh(t, s, ShortTTL, seated("a", "s1", "ddz", here))
	Eventually(t, "room entry to expire", func() bool {
		_, ok, err := s.RoomOf(c, "a", "ddz")
		must(t, err)
		return !ok
	})
	// Then the player may enter elsewhere.
	must(t, s.EnterRoom(c, "a", "s1", "ddz", presence.RoomKey{Shard: "ddz-1", Room: 60}, long))
}

// testRefreshRoom: room entries come back with their session after the
// store lost them; an older session's entry is taken over; the same session
// cannot hold two rooms.
func testRefreshRoom(t *testing.T, s presence.Store) {
	c := ctx(t)
	here := presence.RoomKey{Shard: "ddz-0", Room: 1}
	there := presence.RoomKey{Shard: "ddz-1", Room: 51}
	// Lost entry and session (store restarted): the shard restores both.
	if errs := refresh(t, s, long, seated("a", "s1", "ddz", here)); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if where, ok, _ := s.RoomOf(c, "a", "ddz"); !ok || where != here {
		t.Fatalf("refresh did not restore the entry: %v %v", where, ok)
	}
	// Restored with its session: the same session cannot take a second room.
	if err := s.EnterRoom(c, "a", "s1", "ddz", there, long); !errors.Is(err, presence.ErrInOtherRoom) {
		t.Fatalf("enter elsewhere after the restore: %v", err)
	}
	if errs := refresh(t, s, long, seated("a", "s1", "ddz", there)); !errors.Is(errs[0], presence.ErrInOtherRoom) {
		t.Fatalf("refresh of another place by the same session: %v", errs[0])
	}
	// A newer login: the old holder learns it was superseded (its seat may
	// wait for the new session to resume it)...
	must(t, second(s.Login(c, "a", "s2", long)))
	if errs := refresh(t, s, long, seated("a", "s1", "ddz", here)); !errors.Is(errs[0], presence.ErrSessionSuperseded) {
		t.Fatalf("refresh by the superseded holder: %v", errs[0])
	}
	// ...and, once the new session plays elsewhere, that it must give it up.
	must(t, s.EnterRoom(c, "a", "s2", "ddz", there, long))
	if errs := refresh(t, s, long, seated("a", "s1", "ddz", here)); !errors.Is(errs[0], presence.ErrInOtherRoom) {
		t.Fatalf("refresh by the superseded holder, moved elsewhere: %v", errs[0])
	}
	if where, _, _ := s.RoomOf(c, "a", "ddz"); where != there {
		t.Fatalf("the superseded holder's refresh moved the entry to %v", where)
	}
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
	for i := range n {
		beat(t, s, fmt.Sprintf("ddz-%d", i), long)
	}
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
