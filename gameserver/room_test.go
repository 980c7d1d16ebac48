package gameserver_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/protocol/pb"
)

// Many players race for a small room over real connections: exactly
// capacity get in, the rest get ROOM_FULL naming rooms that have seats.
func TestRoomCapacityUnderConcurrentEntries(t *testing.T) {
	const capacity, players = 7, 60
	e := startShard(t, gameserver.Config{Rooms: 3, RoomCapacity: capacity, TablesPerRoom: 3}, nil, nil)
	conns := make([]*client.Conn, players)
	for i := range conns {
		conns[i] = e.dial(fmt.Sprintf("p%02d", i))
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		ok     int
		full   int
		others []string
	)
	start := make(chan struct{})
	for _, c := range conns {
		wg.Go(func() {
			<-start
			_, err := c.EnterRoom(ctx20(t), 1)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case client.Code(err) == pb.ErrorCode_ROOM_FULL:
				full++
				var ce *client.Error
				if e, isCE := err.(*client.Error); isCE {
					ce = e
				}
				if !slices.Equal(ce.Rooms, []int32{2, 3}) {
					others = append(others, fmt.Sprint(ce.Rooms))
				}
			default:
				others = append(others, err.Error())
			}
		})
	}
	close(start)
	wg.Wait()
	if ok != capacity || full != players-capacity || len(others) > 0 {
		t.Fatalf("entered %d (want %d), full %d (want %d), unexpected: %v", ok, capacity, full, players-capacity, others)
	}
	st := e.srv.Stats()
	if st.Players != capacity || st.Rooms[0].Players != capacity {
		t.Fatalf("stats %+v", st)
	}
}

func TestRoomRequestErrors(t *testing.T) {
	e := startShard(t, gameserver.Config{FirstRoom: 11, Rooms: 2, RoomCapacity: 10, TablesPerRoom: 2}, nil, nil)
	c := e.dial("alice")
	ctx := ctx20(t)
	steps := []struct {
		name string
		do   func() error
		want pb.ErrorCode
	}{
		{"sit before entering", func() error { _, err := c.SitDown(ctx, 0, 0); return err }, pb.ErrorCode_NOT_IN_ROOM},
		{"room of another shard", func() error { _, err := c.EnterRoom(ctx, 1); return err }, pb.ErrorCode_NO_SUCH_ROOM},
		{"enter", func() error { _, err := c.EnterRoom(ctx, 11); return err }, 0},
		{"second room", func() error { _, err := c.EnterRoom(ctx, 12); return err }, pb.ErrorCode_ALREADY_IN_ROOM},
		{"ready standing", func() error { return c.Ready(ctx) }, pb.ErrorCode_NOT_SEATED},
		{"no such table", func() error { _, err := c.SitDown(ctx, 2, 0); return err }, pb.ErrorCode_NO_SUCH_SEAT},
		{"no such seat", func() error { _, err := c.SitDown(ctx, 0, 3); return err }, pb.ErrorCode_NO_SUCH_SEAT},
		{"sit", func() error { _, err := c.SitDown(ctx, 1, 2); return err }, 0},
		{"sit twice", func() error { _, err := c.SitDown(ctx, 0, 0); return err }, pb.ErrorCode_ALREADY_SEATED},
		{"play without game", func() error { return c.Play(ctx, []byte{1}) }, pb.ErrorCode_NO_GAME},
		{"empty chat", func() error { return c.Chat(ctx, pb.ChatScope_ROOM, "") }, pb.ErrorCode_BAD_REQUEST},
		{"stand", func() error { return c.StandUp(ctx) }, 0},
		{"stand twice", func() error { return c.StandUp(ctx) }, pb.ErrorCode_NOT_SEATED},
		{"leave", func() error { return c.LeaveRoom(ctx) }, 0},
		{"leave twice", func() error { return c.LeaveRoom(ctx) }, pb.ErrorCode_NOT_IN_ROOM},
		{"hello twice", func() error {
			_, err := c.Request(ctx, &pb.Envelope{Msg: &pb.Envelope_Hello{Hello: &pb.Hello{}}})
			return err
		}, pb.ErrorCode_BAD_REQUEST},
		{"server message", func() error {
			_, err := c.Request(ctx, &pb.Envelope{Msg: &pb.Envelope_Welcome{Welcome: &pb.Welcome{}}})
			return err
		}, pb.ErrorCode_BAD_REQUEST},
	}
	for _, s := range steps {
		err := s.do()
		if s.want == 0 {
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			continue
		}
		if client.Code(err) != s.want {
			t.Fatalf("%s: got %v, want %s", s.name, err, s.want)
		}
	}
}

// Two players see each other's entry in one batched RoomEvents frame, and the
// seat map in RoomState.
func TestRoomEventsAndState(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 5}, nil, nil)
	ctx := ctx20(t)
	a := e.dial("a")
	if _, err := a.EnterRoom(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SitDown(ctx, 4, 1); err != nil {
		t.Fatal(err)
	}
	b, c := e.dial("b"), e.dial("c")
	for _, x := range []*client.Conn{b, c} {
		if _, err := x.EnterRoom(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	// Entries arrive batched (several per frame); collect until both are seen.
	seen := map[string]bool{}
	ev := waitEvent(t, a, "b and c entering", func(env *pb.Envelope) bool {
		for _, x := range env.GetRoomEvents().GetEvents() {
			if x.Kind == pb.RoomEventKind_ENTER {
				seen[x.Account] = true
			}
		}
		return seen["b"] && seen["c"]
	})
	if ev.GetRoomEvents().Players != 3 {
		t.Fatalf("players in batch: %d", ev.GetRoomEvents().Players)
	}
	d := e.dial("d")
	st, err := d.EnterRoom(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Players != 4 || st.Capacity != 10 || st.TablesTotal != 5 || len(st.Tables) != 1 ||
		st.Tables[0].Table != 4 || st.Tables[0].Seats[1].Account != "a" || st.MyTable != -1 {
		t.Fatalf("room state %v", st)
	}
}

// TestRoomChatBatches: room chat waits for the room's tick and goes to
// every member as one batch; each member still gets every message, in the
// order it was said, and a WebSocket member gets each as its own message.
func TestRoomChatBatches(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1, RoomTick: 200 * time.Millisecond, ChatBurst: 10}, nil, nil)
	ctx := ctx20(t)
	a, b := e.dial("a"), e.dial("b")
	tok, _ := e.ticketFor("web")
	w, err := client.DialWebSocket(ctx, "ws://"+e.addr()+"/ws", tok)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, c := range []*client.Conn{a, b, w} {
		if _, err := c.EnterRoom(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for i := range 5 {
		for _, c := range []*client.Conn{a, b} {
			text := fmt.Sprintf("%s-%d", c.Welcome.Account, i)
			if err := c.Chat(ctx, pb.ChatScope_ROOM, text); err != nil {
				t.Fatal(err)
			}
			want = append(want, text)
		}
	}
	for _, c := range []*client.Conn{a, b, w} {
		var got []string
		for len(got) < len(want) {
			m := waitEvent(t, c, "room chat", func(env *pb.Envelope) bool { return env.GetChatMessage() != nil })
			got = append(got, m.GetChatMessage().Text)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s got %v, want %v", c.Welcome.Account, got, want)
		}
	}
}
