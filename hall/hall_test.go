package hall_test

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/presence/redistest"
	"github.com/gamehall/gamehall/ticket"
)

var ddz = []hall.RegionInfo{{Name: "ddz-1", Game: "doudizhu", DisplayName: "Dou Dizhu · Zone 1"}}

func roomsOf(view map[int]hall.Room, shard string) int {
	n := 0
	for _, r := range view {
		if r.Shard == shard {
			n++
		}
	}
	return n
}

// TestDirectoryFollowsShards runs two real shards and a hall on a real
// Redis: counts reach watchers and snapshots, draining and not-ready shards
// are hidden, a stopped shard's rooms go, a restarted one's come back.
func TestDirectoryFollowsShards(t *testing.T) {
	keys := newKeys(t)
	rs := redistest.Start(t)
	pres := presence.NewRedis(rs.Client(t), "gh:")
	s0 := startShard(t, gameserver.Config{Shard: "ddz-1-0", Region: "ddz-1", FirstRoom: 1, Rooms: 5, RoomCapacity: 10, TablesPerRoom: 3}, keys, pres)
	s1cfg := gameserver.Config{Shard: "ddz-1-1", Region: "ddz-1", FirstRoom: 6, Rooms: 5, RoomCapacity: 10, TablesPerRoom: 3}
	s1 := startShard(t, s1cfg, keys, pres)
	e := startHall(t, hall.Config{Name: "hall-a"}, keys, pres, nil)
	e.source.Set(ddz, []hall.ShardInfo{s0.info("ddz-1"), s1.info("ddz-1")})

	w := e.watch("ddz-1", "")
	w.until("10 rooms", func(v map[int]hall.Room) bool { return len(v) == 10 })
	seat(t, e, s0, "alice", 3)
	seat(t, e, s1, "bob", 7)
	w.until("alice in room 3 and bob in 7", func(v map[int]hall.Room) bool {
		return v[3].Players == 1 && v[7].Players == 1
	})
	if r, want := w.view[3], s0.info("ddz-1"); r.Shard != want.Name || r.Address != want.Address || r.Port != want.Port || r.Capacity != 10 {
		t.Fatalf("room 3 = %+v, want on %+v", r, want)
	}

	tok := e.player("reader")
	// A served snapshot may be up to snapshotEvery (250ms) old: wait until
	// it has caught up with what the watcher has, then check its content.
	var snap hall.WatchMessage
	eventually(t, "a snapshot as recent as the watcher's view", func() bool {
		snap = e.rooms("ddz-1", tok)
		return snap.Version >= w.version
	})
	if snap.Type != "snapshot" || len(snap.Rooms) != 10 || snap.Version == 0 || snap.Epoch == "" || snap.Players != 2 || snap.Capacity != 100 {
		t.Fatalf("snapshot %+v", snap)
	}
	for i, r := range snap.Rooms {
		if r.Room != i+1 {
			t.Fatalf("snapshot rooms not in order: %d at %d", r.Room, i)
		}
	}
	resp := e.get("/v1/regions", tok)
	var regions struct{ Regions []hall.RegionSummary }
	json.NewDecoder(resp.Body).Decode(&regions)
	if len(regions.Regions) != 1 || regions.Regions[0].Rooms != 10 || regions.Regions[0].Players != 2 || regions.Regions[0].DisplayName != ddz[0].DisplayName {
		t.Fatalf("regions %+v", regions)
	}

	// Draining, then not ready: the shard's rooms are not offered.
	for _, tc := range []struct {
		name string
		mod  func(*hall.ShardInfo)
	}{
		{"draining", func(s *hall.ShardInfo) { s.Draining = true }},
		{"not ready", func(s *hall.ShardInfo) { s.Ready = false }},
	} {
		i1 := s1.info("ddz-1")
		tc.mod(&i1)
		e.source.Set(ddz, []hall.ShardInfo{s0.info("ddz-1"), i1})
		w.until(tc.name+" shard hidden", func(v map[int]hall.Room) bool { return len(v) == 5 && roomsOf(v, "ddz-1-1") == 0 })
		e.source.Set(ddz, []hall.ShardInfo{s0.info("ddz-1"), s1.info("ddz-1")})
		w.until(tc.name+" shard back", func(v map[int]hall.Room) bool { return len(v) == 10 })
	}

	// The shard dies while still listed: its stream ends and its rooms go.
	addr, internal := s1.srv.Addr().String(), s1.srv.InternalAddr().String()
	s1.stop()
	w.until("stopped shard's rooms dropped", func(v map[int]hall.Room) bool { return len(v) == 5 })

	// It restarts on the same addresses (as a pod keeps its IP): the hall
	// reconnects and offers its rooms again, empty.
	s1cfg.Addr, s1cfg.InternalAddr = addr, internal
	startShard(t, s1cfg, keys, pres)
	w.until("restarted shard's rooms back", func(v map[int]hall.Room) bool { return len(v) == 10 && v[7].Players == 0 })

	// The shard's public port changes (e.g. a new node port): its rooms are
	// offered at the new address.
	moved := s0.info("ddz-1")
	moved.Port += 1000
	e.source.Set(ddz, []hall.ShardInfo{moved, s1.info("ddz-1")})
	w.until("s0's rooms at the new port", func(v map[int]hall.Room) bool {
		for n := 1; n <= 5; n++ {
			if v[n].Port != moved.Port {
				return false
			}
		}
		return len(v) == 10
	})

	// The shard leaves the source altogether.
	e.source.Set(ddz, []hall.ShardInfo{s0.info("ddz-1")})
	w.until("removed shard's rooms dropped", func(v map[int]hall.Room) bool { return len(v) == 5 })

	if n := metric(t, e.reg, "gamehall_hall_watchers"); n != 1 {
		t.Fatalf("gamehall_hall_watchers = %v", n)
	}
	if n := metric(t, e.reg, "gamehall_hall_deltas_sent_total"); n < 5 {
		t.Fatalf("gamehall_hall_deltas_sent_total = %v", n)
	}
}

// TestRegionRemovedClosesWatchers: a region that leaves the source ends
// its watch streams with a clear close reason.
func TestRegionRemovedClosesWatchers(t *testing.T) {
	keys := newKeys(t)
	pres := presence.NewMemory()
	defer pres.Close()
	e := startHall(t, hall.Config{}, keys, pres, nil)
	e.source.Set(ddz, nil)
	w := e.watch("ddz-1", "")
	w.until("snapshot", func(map[int]hall.Room) bool { return true })
	e.source.Set(nil, nil)
	select {
	case _, ok := <-w.msgs:
		if ok {
			t.Fatal("message after region removal")
		}
	case <-time.After(wait):
		t.Fatal("watch not closed")
	}
	if err := <-w.errc; websocket.CloseStatus(err) != websocket.StatusGoingAway || !strings.Contains(err.Error(), "region removed") {
		t.Fatalf("close: %v", err)
	}
}

// TestWatchResume: a client that reconnects with the epoch and version of
// its last message gets only what it missed.
func TestWatchResume(t *testing.T) {
	keys := newKeys(t)
	pres := presence.NewMemory()
	defer pres.Close()
	s0 := startShard(t, gameserver.Config{Shard: "ddz-1-0", FirstRoom: 1, Rooms: 4, RoomCapacity: 10, TablesPerRoom: 3}, keys, pres)
	e := startHall(t, hall.Config{}, keys, pres, nil)
	e.source.Set(ddz, []hall.ShardInfo{s0.info("ddz-1")})
	w := e.watch("ddz-1", "")
	w.until("4 rooms", func(v map[int]hall.Room) bool { return len(v) == 4 })
	epoch, version := w.epoch, w.version
	w.c.CloseNow()

	seat(t, e, s0, "p1", 2)
	seat(t, e, s0, "p2", 2)
	eventually(t, "the change in the directory", func() bool {
		rooms := e.rooms("ddz-1", e.player("r")).Rooms
		return len(rooms) == 4 && rooms[1].Players == 2
	})

	tests := []struct {
		name, query string
		first       string
	}{
		{"resume", "?epoch=" + epoch + "&since=" + itoa(version), "resume"},
		{"other epoch", "?epoch=nope&since=" + itoa(version), "snapshot"},
		{"future version", "?epoch=" + epoch + "&since=999999", "snapshot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w2 := e.watch("ddz-1", tt.query)
			if tt.first == "resume" {
				w2.view = copyView(w.view)
			}
			w2.until("room 2 with 2 players", func(v map[int]hall.Room) bool { return v[2].Players == 2 && len(v) == 4 })
			if w2.types[0] != tt.first {
				t.Fatalf("messages %v, want %s first", w2.types, tt.first)
			}
			if tt.first == "resume" && strings.Contains(strings.Join(w2.types, ","), "snapshot") {
				t.Fatalf("resume sent a snapshot: %v", w2.types)
			}
		})
	}
	resp := e.get("/v1/regions/ddz-1/watch?since=abc", e.player("x"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("since=abc: %d", resp.StatusCode)
	}
}

func copyView(v map[int]hall.Room) map[int]hall.Room {
	out := make(map[int]hall.Room, len(v))
	for k, r := range v {
		out[k] = r
	}
	return out
}

func itoa(v uint64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestTickets: the directory needs a valid, unexpired ticket signed with a
// key the hall still holds.
func TestTickets(t *testing.T) {
	keys := newKeys(t)
	pres := presence.NewMemory()
	defer pres.Close()
	e := startHall(t, hall.Config{}, keys, pres, nil)
	e.source.Set(ddz, nil)

	other, _ := ticket.NewRandomKeyring("k1")
	forged, _ := other.Sign(ticket.Player("mallory", "s"), time.Hour)
	k2 := ed25519.NewKeyFromSeed([]byte(strings.Repeat("2", 32)))
	k2ring, _ := ticket.NewKeyring(map[string]ed25519.PrivateKey{"k2": k2}, "k2")
	short, _ := k2ring.Sign(ticket.Player("a", "s"), time.Millisecond)
	oldKey, _ := keys.Sign(ticket.Player("a", "s"), time.Hour)
	// ticket.Leeway tolerates clock skew; wait it out so short is expired.
	time.Sleep(ticket.Leeway + 50*time.Millisecond)

	// Rotate: publish and activate k2, then remove k1.
	pub := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	if err := keys.Set(map[string]ed25519.PrivateKey{"k1": testKey1, "k2": k2}, "k2",
		map[string]ed25519.PublicKey{"k1": pub(testKey1), "k2": pub(k2)}); err != nil {
		t.Fatal(err)
	}
	rotated := e.player("b")
	if resp := e.get("/v1/regions", oldKey); resp.StatusCode != 200 {
		t.Fatalf("old key during rotation: %d", resp.StatusCode)
	}
	if err := keys.Set(map[string]ed25519.PrivateKey{"k2": k2}, "k2", map[string]ed25519.PublicKey{"k2": pub(k2)}); err != nil {
		t.Fatal(err)
	}
	shardOnly, _ := keys.Sign(ticket.Service("ops", ticket.AudShardRead, ticket.AudShardDrain), time.Hour)
	ops, _ := keys.Sign(ticket.Service("ops", ticket.AudHallOps), time.Hour)

	tests := []struct {
		name, tok string
		status    int
		code      string
	}{
		{"none", "", 401, login.CodeTicketMissing},
		{"garbage", "abc", 401, login.CodeTicketInvalid},
		{"forged", forged, 401, login.CodeTicketInvalid},
		{"expired", short, 401, login.CodeTicketExpired},
		{"removed key", oldKey, 401, login.CodeTicketInvalid},
		{"shard service ticket", shardOnly, 403, login.CodeTicketAudience},
		{"operator's ticket", ops, 200, ""},
		{"new key", rotated, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.get("/v1/regions", tt.tok)
			var body login.ErrorBody
			json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tt.status || body.Error.Code != tt.code {
				t.Fatalf("%d %+v, want %d %s", resp.StatusCode, body.Error, tt.status, tt.code)
			}
		})
	}
	resp := e.get("/v1/regions/nowhere/rooms", rotated)
	if resp.StatusCode != 404 {
		t.Fatalf("unknown region: %d", resp.StatusCode)
	}
}

// TestRedirect: a replica over max clients sends new clients to the least
// loaded peer it learned from presence (real Redis), or answers HALL_FULL.
func TestRedirect(t *testing.T) {
	keys := newKeys(t)
	rs := redistest.Start(t)
	cfg := func(name string, max int) hall.Config {
		return hall.Config{Name: name, MaxClients: max, AdvertiseEvery: 100 * time.Millisecond}
	}
	a := startHall(t, cfg("hall-a", 1), keys, presence.NewRedis(rs.Client(t), "gh:"), nil)
	busy := startHall(t, cfg("hall-busy", 10), keys, presence.NewRedis(rs.Client(t), "gh:"), nil)
	b := startHall(t, cfg("hall-b", 10), keys, presence.NewRedis(rs.Client(t), "gh:"), nil)
	for _, e := range []*hallEnv{a, b, busy} {
		e.source.Set(ddz, nil)
	}
	for range 3 { // hall-busy is more loaded than hall-b
		busy.watch("ddz-1", "").until("snapshot", func(map[int]hall.Room) bool { return true })
	}
	a.watch("ddz-1", "").until("snapshot", func(map[int]hall.Room) bool { return true })

	tok := a.player("p")
	eventually(t, "a redirect to hall-b", func() bool {
		resp := a.get("/v1/regions/ddz-1/rooms", tok)
		return resp.StatusCode == http.StatusTemporaryRedirect && resp.Header.Get("Location") == b.url+"/v1/regions/ddz-1/rooms"
	})
	resp := a.get("/v1/regions/ddz-1/watch", tok)
	var body hall.RedirectBody
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 307 || body.Redirect.Code != "HALL_BUSY" || body.Redirect.Location != b.url+"/v1/regions/ddz-1/watch" {
		t.Fatalf("watch redirect: %d %+v", resp.StatusCode, body)
	}
	// Following the redirect works.
	if resp := b.get("/v1/regions/ddz-1/rooms", tok); resp.StatusCode != 200 {
		t.Fatalf("at the peer: %d", resp.StatusCode)
	}

	// Alone and full: 503 HALL_FULL.
	alone := startHall(t, cfg("alone", 1), keys, presence.NewRedis(rs.Client(t), "other:"), nil)
	alone.source.Set(ddz, nil)
	alone.watch("ddz-1", "").until("snapshot", func(map[int]hall.Room) bool { return true })
	eventually(t, "HALL_FULL", func() bool {
		resp := alone.get("/v1/regions", tok)
		var eb login.ErrorBody
		json.NewDecoder(resp.Body).Decode(&eb)
		return resp.StatusCode == 503 && eb.Error.Code == login.CodeHallFull && resp.Header.Get("Retry-After") != ""
	})
}

func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.Metric[0]
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestRedisDownDirectoryKeepsWorking: with Redis gone the hall is not
// ready (so no new clients are sent to it) but its watchers keep getting
// the directory; it is ready again when Redis returns.
func TestRedisDownDirectoryKeepsWorking(t *testing.T) {
	keys := newKeys(t)
	rs := redistest.Start(t)
	pres := presence.NewRedis(rs.Client(t), "gh:")
	shardPres := presence.NewMemory() // the shard's own presence is not under test
	t.Cleanup(func() { shardPres.Close() })
	s0 := startShard(t, gameserver.Config{Shard: "ddz-1-0", FirstRoom: 1, Rooms: 3, RoomCapacity: 10, TablesPerRoom: 3}, keys, shardPres)
	e := startHall(t, hall.Config{}, keys, pres, nil)
	e.source.Set(ddz, []hall.ShardInfo{s0.info("ddz-1")})
	w := e.watch("ddz-1", "")
	w.until("3 rooms", func(v map[int]hall.Room) bool { return len(v) == 3 })
	ready := func() (int, string) {
		resp := e.get("/readyz", "")
		var body login.ErrorBody
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Error.Code
	}
	if code, _ := ready(); code != 200 {
		t.Fatalf("readyz %d with Redis up", code)
	}

	rs.Stop()
	if code, ecode := ready(); code != 503 || ecode != login.CodePresenceUnavailable {
		t.Fatalf("readyz %d %s with Redis down", code, ecode)
	}
	// The shard drains: the watcher still hears about it.
	i0 := s0.info("ddz-1")
	i0.Draining = true
	e.source.Set(ddz, []hall.ShardInfo{i0})
	w.until("rooms hidden while Redis is down", func(v map[int]hall.Room) bool { return len(v) == 0 })

	rs.Restart()
	eventually(t, "ready again", func() bool { code, _ := ready(); return code == 200 })
}
