package hall_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/presence"
)

// TestWatchPages: a page watcher gets its page's rooms and the region's
// totals, and nothing of other pages' rooms; page=auto picks a page with
// rooms; the whole-region stream still has everything.
func TestWatchPages(t *testing.T) {
	keys := newKeys(t)
	pres := presence.NewMemory()
	defer pres.Close()
	// Rooms 1-30 (pages 1-3 of 10) and 41-50 (page 5): page 4 is empty.
	s0 := startShard(t, gameserver.Config{Shard: "ddz-1-0", FirstRoom: 1, Rooms: 30, RoomCapacity: 4, TablesPerRoom: 2}, keys, pres)
	s1 := startShard(t, gameserver.Config{Shard: "ddz-1-1", FirstRoom: 41, Rooms: 10, RoomCapacity: 4, TablesPerRoom: 2}, keys, pres)
	e := startHall(t, hall.Config{PageSize: 10}, keys, pres, nil)
	e.source.Set(ddz, []hall.ShardInfo{s0.info("ddz-1"), s1.info("ddz-1")})

	all := e.watch("ddz-1", "")
	all.until("40 rooms", func(v map[int]hall.Room) bool { return len(v) == 40 })
	p2 := e.watch("ddz-1", "?page=2")
	p2.until("page 2's 10 rooms", func(v map[int]hall.Room) bool { return len(v) == 10 })
	for n := range p2.view {
		if n < 11 || n > 20 {
			t.Fatalf("page 2 shows room %d", n)
		}
	}
	if m := p2.last; m.Page != 2 || m.PageSize != 10 || m.Pages != 5 || m.RoomCount != 40 || m.Capacity != 160 {
		t.Fatalf("page 2 snapshot totals %+v", m)
	}
	empty := e.watch("ddz-1", "?page=4")
	empty.until("page 4's snapshot", func(map[int]hall.Room) bool { return true })
	if len(empty.view) != 0 || empty.last.Pages != 5 {
		t.Fatalf("page 4: %d rooms, %+v", len(empty.view), empty.last)
	}

	// A player on page 2 reaches page 2's watcher; one on page 1 only
	// moves the totals it sees.
	seat(t, e, s0, "alice", 15)
	p2.until("alice in room 15", func(v map[int]hall.Room) bool { return v[15].Players == 1 })
	seat(t, e, s0, "bob", 3)
	p2.untilMsg("the totals with bob", func(m hall.WatchMessage) bool { return m.Players == 2 })
	if _, ok := p2.view[3]; ok {
		t.Fatal("page 2's watcher got room 3")
	}
	all.until("both players", func(v map[int]hall.Room) bool { return v[15].Players == 1 && v[3].Players == 1 })

	auto := e.watch("ddz-1", "?page=auto")
	auto.until("a page", func(map[int]hall.Room) bool { return true })
	if p := auto.last.Page; p < 1 || p > 5 || p == 4 || len(auto.view) != 10 {
		t.Fatalf("page=auto chose page %d with %d rooms", p, len(auto.view))
	}
	for _, q := range []string{"?page=0", "?page=x", "?page=-1"} {
		if resp := e.get("/v1/regions/ddz-1/watch"+q, e.player("x")); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d", q, resp.StatusCode)
		}
	}
	if resp := e.get("/v1/regions/ddz-1/watch", e.player("x")); resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET of the stream: HTTP %d", resp.StatusCode)
	}
}

// TestWatchPingAndClose: the hall pings watchers and answers theirs; a
// client's close is answered; a client that sends a message is closed with
// a protocol error; stopping the hall closes every watcher with "going
// away".
func TestWatchPingAndClose(t *testing.T) {
	keys := newKeys(t)
	pres := presence.NewMemory()
	defer pres.Close()
	e := startHall(t, hall.Config{PingInterval: 50 * time.Millisecond}, keys, pres, nil)
	e.source.Set(ddz, nil)

	w := e.watch("ddz-1", "")
	w.until("snapshot", func(map[int]hall.Room) bool { return true })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	// coder/websocket answers the hall's pings while reading (the watcher
	// reads); its own ping waits for the hall's pong.
	if err := w.c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := w.c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
	eventually(t, "no watchers", func() bool { return metric(t, e.reg, "gamehall_hall_watchers") == 0 })

	talker := e.watch("ddz-1", "")
	talker.until("snapshot", func(map[int]hall.Room) bool { return true })
	if err := talker.c.Write(ctx, websocket.MessageText, []byte(`{"page":2}`)); err != nil {
		t.Fatal(err)
	}
	if err := talker.closed(); websocket.CloseStatus(err) != websocket.StatusProtocolError {
		t.Fatalf("a client that sent a message: %v", err)
	}

	last := e.watch("ddz-1", "")
	last.until("snapshot", func(map[int]hall.Room) bool { return true })
	e.stop()
	if err := last.closed(); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("hall stopped: %v", err)
	}
}
