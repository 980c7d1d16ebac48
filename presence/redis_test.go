package presence_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/presence/redistest"
	"github.com/gamehall/gamehall/presence/storetest"
)

// TestRedisConformance runs the suite against one real redis-server; each
// subtest gets its own key prefix.
func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) presence.Store {
		return presence.NewRedis(srv.Client(t), fmt.Sprintf("t%d:", n.Add(1)))
	})
}

// TestRedisKickAcrossProcesses: two halls (two clients, as two processes
// would have) share the Redis; a login on one kicks the session that a
// shard subscribed through the other holds.
func TestRedisKickAcrossProcesses(t *testing.T) {
	srv := redistest.Start(t)
	hallA := presence.NewRedis(srv.Client(t), "gh:")
	hallB := presence.NewRedis(srv.Client(t), "gh:")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kicks, err := hallB.Kicks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hallB.Login(ctx, "alice", "old", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := hallA.Login(ctx, "alice", "new", time.Hour); err != nil {
		t.Fatal(err)
	}
	k := storetest.NextKick(t, kicks)
	if k.Account != "alice" || k.Session != "old" || k.Reason != presence.KickReason {
		t.Fatalf("kick = %+v", k)
	}
	// Another prefix is another platform: it hears nothing.
	other := presence.NewRedis(srv.Client(t), "other:")
	otherKicks, err := other.Kicks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hallA.Login(ctx, "alice", "newer", time.Hour)
	storetest.NextKick(t, kicks)
	select {
	case k := <-otherKicks:
		t.Fatalf("other prefix got %+v", k)
	default:
	}
}

// TestRedisGoesAway: calls fail with ErrUnavailable while Redis is down,
// and work again (kicks included) once it is back, empty.
func TestRedisGoesAway(t *testing.T) {
	srv := redistest.Start(t)
	s := presence.NewRedis(srv.Client(t), "gh:")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kicks, err := s.Kicks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	where := presence.RoomKey{Shard: "ddz-0", Room: 1}
	beat := presence.Beat{Shard: where.Shard, Alive: time.Hour}
	s.Login(ctx, "a", "s1", time.Hour)
	if err := s.EnterRoom(ctx, "a", "s1", "ddz", where, time.Hour); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	for name, err := range map[string]error{
		"login":   second(s.Login(ctx, "a", "s2", time.Hour)),
		"refresh": third(s.Refresh(ctx, beat, []presence.Hold{{Account: "a", Session: "s1"}}, time.Hour)),
		"enter":   s.EnterRoom(ctx, "a", "s1", "ddz", where, time.Hour),
		"peers":   second(s.Peers(ctx)),
		"ping":    s.Ping(ctx),
		"session": second(s.Session(ctx, "a")),
	} {
		if !errors.Is(err, presence.ErrUnavailable) {
			t.Errorf("%s with Redis down: %v, want ErrUnavailable", name, err)
		}
	}
	if _, err := s.Kicks(ctx); !errors.Is(err, presence.ErrUnavailable) {
		t.Errorf("Kicks with Redis down: %v", err)
	}

	srv.Restart()
	// The holders' heartbeats restore what the empty Redis lost, and learn
	// that their liveness was lost with it.
	held := []presence.Hold{{Account: "a", Session: "s1", Game: "ddz", Room: where}}
	answered := false
	storetest.Eventually(t, "refresh to succeed after restart", func() bool {
		errs, lapsed, err := s.Refresh(ctx, beat, held, time.Hour)
		if err == nil && !answered && !lapsed {
			t.Fatal("the first refresh after the restart did not say the liveness had lapsed")
		}
		answered = answered || err == nil
		return err == nil && errs[0] == nil
	})
	if got, ok, _ := s.RoomOf(ctx, "a", "ddz"); !ok || got != where {
		t.Fatalf("room entry not restored: %v %v", got, ok)
	}
	if cur, _ := s.Session(ctx, "a"); cur != "s1" {
		t.Fatalf("session not restored: %q", cur)
	}
	// The subscription came back and said kicks may have been lost.
	storetest.Eventually(t, "a resync after the restart", func() bool {
		select {
		case k := <-kicks:
			return k.Resync
		case <-time.After(200 * time.Millisecond):
			return false
		}
	})
	// The old subscription resubscribed: a new login's kick arrives.
	storetest.Eventually(t, "a kick after restart", func() bool {
		s.Login(ctx, "a", "s1", time.Hour)
		if _, err := s.Login(ctx, "a", "s2", time.Hour); err != nil {
			return false
		}
		select {
		case k := <-kicks:
			return k.Session == "s1" || k.Session == "s2"
		case <-time.After(200 * time.Millisecond):
			return false
		}
	})
}

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }

// TestRedisKickLostWhileUnsubscribed: a kick published while the
// subscriber's connection is cut is lost, and the subscriber is told so
// (Resync) once it is back, so it re-checks its sessions.
func TestRedisKickLostWhileUnsubscribed(t *testing.T) {
	srv := redistest.Start(t)
	s := presence.NewRedis(srv.Client(t), "gh:")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kicks, err := s.Kicks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin := srv.Client(t)
	if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	k := storetest.NextKick(t, kicks)
	if !k.Resync {
		t.Fatalf("first notice after the cut: %+v, want a Resync", k)
	}
	// Subscribed again: kicks arrive.
	s.Login(ctx, "a", "s1", time.Hour)
	s.Login(ctx, "a", "s2", time.Hour)
	if k := storetest.NextKick(t, kicks); k.Session != "s1" {
		t.Fatalf("kick after the resync: %+v", k)
	}
}
