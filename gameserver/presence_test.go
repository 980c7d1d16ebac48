package gameserver_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/presence/redistest"
	"github.com/gamehall/gamehall/protocol/pb"
)

func redisClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
}

// redisShard runs a shard whose presence is a real Redis reached at addr
// (the server's own address, or a proxy's); logins go straight to srv.
func redisShard(t *testing.T, srv *redistest.Server, addr string) (*env, presence.Store) {
	t.Helper()
	shardStore := presence.NewRedis(redisClient(addr), "gh:")
	t.Cleanup(func() { shardStore.Close() })
	e := startShard(t, gameserver.Config{Rooms: 2, RoomCapacity: 10, TablesPerRoom: 1}, shardStore, nil)
	login := presence.NewRedis(srv.Client(t), "gh:")
	e.pres = login // ticketFor logs in here
	return e, login
}

func waitKicked(t *testing.T, c *client.Conn) *pb.Kicked {
	t.Helper()
	return waitEvent(t, c, "a kick", func(env *pb.Envelope) bool { return env.GetKicked() != nil }).GetKicked()
}

// Redis restarted empty is a cache that lost its data, not a verdict: the
// shard keeps its players, re-asserts their sessions and room entries at
// once (not at the next heartbeat), lets a dropped player resume, and the
// account's next login still supersedes the old session.
func TestRedisRestartKeepsPlayers(t *testing.T) {
	srv := redistest.Start(t)
	e, login := redisShard(t, srv, srv.Addr)
	ctx := ctx20(t)
	tok, session := e.ticketFor("a")
	c, err := client.Dial(ctx, e.addr(), tok)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.EnterRoom(ctx, 1); err != nil {
		t.Fatal(err)
	}

	srv.Restart()
	here := placeOf(e, 1)
	eventually(t, "the shard to re-assert a's session and room", func() bool {
		cur, err1 := login.Session(ctx, "a")
		where, ok, err2 := login.RoomOf(ctx, "a", "doudizhu")
		return err1 == nil && err2 == nil && cur == session && ok && where == here
	})
	select {
	case <-c.Done():
		t.Fatalf("a was disconnected by the Redis restart: %v", c.Err())
	default:
	}

	// A drop, and the same session resumes its place.
	c.Close()
	eventually(t, "a's drop seen", func() bool { return e.srv.Stats().Players == 0 })
	c2, err := client.Dial(ctx, e.addr(), tok)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.EnterRoom(ctx, 2); err != nil {
		t.Fatalf("entry after the restart: %v", err)
	}
	// A newer login supersedes the restored session.
	e.ticketFor("a")
	if k := waitKicked(t, c2); k.Code != pb.KickCode_KICK_SUPERSEDED {
		t.Fatalf("kick %v", k)
	}
}

// A kick published while the shard's subscription is cut is lost; the
// shard learns that kicks may have been lost when it is back and re-checks
// its sessions, so the superseded one is disconnected all the same.
func TestKickLostWhileSubscriptionCut(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr)
	e, _ := redisShard(t, srv, proxy.Addr)
	ctx := ctx20(t)
	tok, _ := e.ticketFor("a")
	c, err := client.Dial(ctx, e.addr(), tok)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.EnterRoom(ctx, 1); err != nil {
		t.Fatal(err)
	}

	proxy.Cut()
	e.ticketFor("a") // a newer login: its kick reaches nobody
	proxy.Restore()
	if k := waitKicked(t, c); k.Code != pb.KickCode_KICK_SUPERSEDED {
		t.Fatalf("kick %v", k)
	}
}

// Logging out disconnects the session at once and gives its place up.
func TestLogoutKicksSession(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1}, nil, nil)
	ctx := ctx20(t)
	tok, session := e.ticketFor("a")
	c, err := client.Dial(ctx, e.addr(), tok)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.EnterRoom(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.pres.Logout(ctx, "a", session); err != nil {
		t.Fatal(err)
	}
	if k := waitKicked(t, c); k.Code != pb.KickCode_KICK_LOGGED_OUT {
		t.Fatalf("kick %v", k)
	}
	eventually(t, "a's place given up", func() bool { return e.srv.Stats().Players == 0 })
}

// One room per game, across shards and sessions: a player seated in a game
// logs in again; the old connection is dropped and its seat waits for the
// reconnect grace (the new session could resume it) — until the new session
// takes a room on another shard: then the old seat is given up at once, not
// after the grace, or the account would sit in two rooms.
func TestSeatGivenUpWhenAccountPlaysElsewhere(t *testing.T) {
	pres := presence.NewMemory()
	t.Cleanup(func() { pres.Close() })
	keys := newKeys(t)
	cfg := gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1, TurnTimeout: time.Hour, ReconnectGrace: time.Hour}
	s1 := startShard(t, cfg, pres, keys)
	cfg.Shard, cfg.FirstRoom = "test-1", 2
	s2 := startShard(t, cfg, pres, keys)
	ctx := ctx20(t)
	cs, _ := seatWithTickets(t, s1, "a", "b", "c")
	for _, c := range cs {
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitEvent(t, cs[0], "the deal", func(env *pb.Envelope) bool { return env.GetGameEvent().GetKind() == pb.GameEventKind_DEAL })

	tok, _ := s1.ticketFor("a") // a newer login
	if k := waitKicked(t, cs[0]); k.Code != pb.KickCode_KICK_SUPERSEDED {
		t.Fatalf("kick %v", k)
	}
	if n := s1.srv.Stats().Players; n != 3 {
		t.Fatalf("%d players on the first shard, want 3: the seat waits for the grace", n)
	}
	a2, err := client.Dial(ctx, s2.addr(), tok)
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if _, err := a2.EnterRoom(ctx, 2); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the old seat given up", func() bool { return s1.srv.Stats().Players == 2 })
	ev := waitEvent(t, cs[1], "the escape", func(env *pb.Envelope) bool { return env.GetGameEvent().GetKind() == pb.GameEventKind_ESCAPE })
	if ev.GetGameEvent().Seat != 0 {
		t.Fatalf("escape of seat %d, want a's seat 0", ev.GetGameEvent().Seat)
	}
}
