package gameserver_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/presence/redistest"
	"github.com/gamehall/gamehall/protocol/pb"
)

// aliveTTL is the shards' liveness in these tests: its beat period (1 s)
// leaves a loaded machine two seconds of stall before a live shard looks
// dead. Room entries keep the default TTL (3 min), so only the liveness
// can release them within the tests' 20 s waits.
const aliveTTL = 3 * time.Second

// The shard process of TestKilledShardReleasesItsPlayers: this test binary
// run again with GAMEHALL_LIVENESS_REDIS set. It serves rooms 1–2 as shard
// south-0 on that Redis and prints its address.
func TestLivenessShardProcess(t *testing.T) {
	addr := os.Getenv("GAMEHALL_LIVENESS_REDIS")
	if addr == "" {
		t.Skip("the shard process of TestKilledShardReleasesItsPlayers")
	}
	pres := presence.NewRedis(redisClient(addr), "gh:")
	srv, err := gameserver.New(gameserver.Config{Shard: "south-0", Rooms: 2, RoomCapacity: 10, TablesPerRoom: 1,
		Addr: "127.0.0.1:0", InternalAddr: "127.0.0.1:0", AliveTTL: aliveTTL,
	}, gameserver.Deps{Verifier: newKeys(t), Presence: pres, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("LISTEN %s\n", srv.Addr())
	srv.Run(context.Background()) // until killed
}

// startLivenessShard runs TestLivenessShardProcess in a child process.
func startLivenessShard(t *testing.T, redisAddr string) (*exec.Cmd, string) {
	t.Helper()
	return startChildProcess(t, "TestLivenessShardProcess", "GAMEHALL_LIVENESS_REDIS="+redisAddr)
}

// placeOf is room's key in presence as the shard process of e writes it
// ("<shard>/<epoch>": see Server.Epoch).
func placeOf(e *env, room int) presence.RoomKey {
	return presence.RoomKey{Shard: e.srv.Stats().Shard + "/" + e.srv.Epoch(), Room: room}
}

// southOne runs shard south-1 (rooms 3–4) on pres.
func southOne(t *testing.T, pres presence.Store) *env {
	t.Helper()
	return startShard(t, gameserver.Config{Shard: "south-1", FirstRoom: 3, Rooms: 2, RoomCapacity: 10, TablesPerRoom: 1,
		AliveTTL: aliveTTL}, pres, newKeys(t))
}

// enterOnceAdmitted tries the entry into room until it is admitted; every
// refusal must be IN_OTHER_ROOM.
func enterOnceAdmitted(t *testing.T, c *client.Conn, room int) {
	t.Helper()
	eventually(t, fmt.Sprintf("the entry into room %d", room), func() bool {
		_, err := c.EnterRoom(ctx20(t), room)
		if err != nil {
			wantCode(t, err, pb.ErrorCode_IN_OTHER_ROOM)
		}
		return err == nil
	})
}

// A shard process killed with SIGKILL leaves its players' room entries in
// Redis with their 3-minute TTL, and a new process takes its place under
// the same shard name, as Agones replaces a GameServer. Its players are back
// in a room of another shard once the dead process's liveness lapses
// (aliveTTL after its last beat), not when the entries expire; the
// replacement's beats do not keep them.
func TestKilledShardReleasesItsPlayers(t *testing.T) {
	rs := redistest.Start(t)
	login := presence.NewRedis(rs.Client(t), "gh:")
	b := southOne(t, presence.NewRedis(rs.Client(t), "gh:"))
	b.pres = login
	cmd, aAddr := startLivenessShard(t, rs.Addr)
	tok, _ := b.ticketFor("ann")
	ctx := ctx20(t)
	onA := dialWith(t, aAddr, tok)
	if _, err := onA.EnterRoom(ctx, 1); err != nil {
		t.Fatal(err)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-onA.Done()
	if where, ok, err := login.RoomOf(ctx, "ann", "doudizhu"); err != nil || !ok || !strings.HasPrefix(where.Shard, "south-0/") {
		t.Fatalf("after the kill ann's entry is %v %v %v, want south-0's, left as it was", where, ok, err)
	}
	startLivenessShard(t, rs.Addr)    // the replacement
	onB := dialWith(t, b.addr(), tok) // the same session, back from the hall
	enterOnceAdmitted(t, onB, 3)
	t.Logf("ann entered south-1 %v after the kill of south-0", time.Since(killed).Round(time.Millisecond))
	if where, _, _ := login.RoomOf(ctx, "ann", "doudizhu"); where != placeOf(b, 3) {
		t.Fatalf("ann's entry is %v, want south-1 room 3", where)
	}
}

// stallable is a presence store whose Refresh (the shard's beats and
// heartbeats) fails while stalled: the shard is alive and holds its
// players, but presence does not hear from it.
type stallable struct {
	presence.Store
	stalled atomic.Bool
}

func (s *stallable) Refresh(ctx context.Context, beat presence.Beat, holds []presence.Hold, ttl time.Duration) ([]error, bool, error) {
	if s.stalled.Load() {
		return nil, false, fmt.Errorf("%w: stalled", presence.ErrUnavailable)
	}
	return s.Store.Refresh(ctx, beat, holds, ttl)
}

// A live shard that presence did not hear from for its liveness (stalled,
// or cut off from presence) loses its players' entries to other shards; as
// soon as it is heard again it finds its player seated elsewhere and gives
// the seat up — at once, not at its next heartbeat (PresenceTTL/3, a
// minute), so the account is in one room again.
func TestStalledShardGivesSeatUpOnReturn(t *testing.T) {
	pres := presence.NewMemory()
	t.Cleanup(func() { pres.Close() })
	stalled := &stallable{Store: pres}
	keys := newKeys(t)
	a := startShard(t, gameserver.Config{Shard: "south-0", Rooms: 2, RoomCapacity: 10, TablesPerRoom: 1, AliveTTL: aliveTTL}, stalled, keys)
	b := startShard(t, gameserver.Config{Shard: "south-1", FirstRoom: 3, Rooms: 2, RoomCapacity: 10, TablesPerRoom: 1, AliveTTL: aliveTTL}, pres, keys)
	tok, _ := a.ticketFor("ann")
	ctx := ctx20(t)
	onA := dialWith(t, a.addr(), tok)
	if _, err := onA.EnterRoom(ctx, 1); err != nil {
		t.Fatal(err)
	}

	stalled.stalled.Store(true)
	onB := dialWith(t, b.addr(), tok)
	enterOnceAdmitted(t, onB, 3)
	if n := a.srv.Stats().Players; n != 1 {
		t.Fatalf("%d players on the stalled shard, want ann still there (it did not hear)", n)
	}

	stalled.stalled.Store(false)
	if k := waitKicked(t, onA); k.Code != pb.KickCode_KICK_SUPERSEDED {
		t.Fatalf("kick %v", k)
	}
	eventually(t, "ann's seat on south-0 given up", func() bool { return a.srv.Stats().Players == 0 })
	if where, _, _ := pres.RoomOf(ctx, "ann", "doudizhu"); where != placeOf(b, 3) {
		t.Fatalf("ann's entry is %v, want south-1 room 3", where)
	}
	if n := b.srv.Stats().Players; n != 1 {
		t.Fatalf("%d players on south-1, want ann", n)
	}
}

// The converse: a shard that beats keeps its players' entries however long
// they stay (three liveness periods here, with room entries of 3 minutes):
// the same session is refused in another shard's room all along.
func TestLiveShardKeepsItsPlayers(t *testing.T) {
	rs := redistest.Start(t)
	login := presence.NewRedis(rs.Client(t), "gh:")
	keys := newKeys(t)
	cfg := gameserver.Config{Shard: "south-0", Rooms: 2, RoomCapacity: 10, TablesPerRoom: 1, AliveTTL: aliveTTL}
	a := startShard(t, cfg, presence.NewRedis(rs.Client(t), "gh:"), keys)
	cfg.Shard, cfg.FirstRoom = "south-1", 3
	b := startShard(t, cfg, presence.NewRedis(rs.Client(t), "gh:"), keys)
	a.pres = login
	tok, _ := a.ticketFor("ann")
	ctx := ctx20(t)
	onA := dialWith(t, a.addr(), tok)
	if _, err := onA.EnterRoom(ctx, 1); err != nil {
		t.Fatal(err)
	}
	onB := dialWith(t, b.addr(), tok)

	for start := time.Now(); time.Since(start) < 3*aliveTTL; {
		_, err := onB.EnterRoom(ctx20(t), 3)
		wantCode(t, err, pb.ErrorCode_IN_OTHER_ROOM)
		select {
		case <-onA.Done():
			t.Fatalf("ann's connection on south-0 ended: %v", onA.Err())
		case <-time.After(100 * time.Millisecond): // the pace of the tries, not a margin
		}
	}
	if n := a.srv.Stats().Players; n != 1 {
		t.Fatalf("%d players on south-0, want ann", n)
	}
	if where, _, _ := login.RoomOf(ctx, "ann", "doudizhu"); where != placeOf(a, 1) {
		t.Fatalf("ann's entry is %v, want south-0 room 1", where)
	}
}
