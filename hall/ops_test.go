package hall_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/ticket"
)

// The operator's view: a service ticket sees every shard — a draining one
// too, with its rooms read from the shard — and the scaling events the
// topology showed; a player's ticket is refused.
func TestOpsView(t *testing.T) {
	keys := newKeys(t)
	pres := presence.NewMemory()
	defer pres.Close()
	s0 := startShard(t, gameserver.Config{Shard: "r-0", Region: "r", FirstRoom: 1, Rooms: 2, RoomCapacity: 6, TablesPerRoom: 2}, keys, pres)
	s1 := startShard(t, gameserver.Config{Shard: "r-1", Region: "r", FirstRoom: 3, Rooms: 2, RoomCapacity: 6, TablesPerRoom: 2}, keys, pres)
	e := startHall(t, hall.Config{}, keys, pres, nil)
	regions := []hall.RegionInfo{{Name: "r", Game: "doudizhu", DisplayName: "R"}}
	e.source.Set(regions, []hall.ShardInfo{s0.info("r")})
	seat(t, e, s0, "ann", 1)

	svc, err := keys.Sign(ticket.Service("ops", ticket.AudHallOps), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	view := func(since string) hall.OpsView {
		t.Helper()
		resp := e.get("/v1/ops?since="+since, svc)
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/ops: %s", resp.Status)
		}
		var v hall.OpsView
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	eventually(t, "ann counts in the view", func() bool { return view("0").Players == 1 })

	// Scale out, then drain the first shard: two events, and the drained
	// shard's player is still counted.
	info1 := s1.info("r")
	e.source.Set(regions, []hall.ShardInfo{s0.info("r"), info1})
	drained := s0.info("r")
	drained.Draining = true
	e.source.Set(regions, []hall.ShardInfo{drained, info1})
	var v hall.OpsView
	eventually(t, "the view shows the scale-out and the drain", func() bool {
		v = view("0")
		return len(v.Events) == 2
	})
	if v.Events[0].Kind != hall.OpsShardAdded || v.Events[0].Shard != "r-1" || v.Events[1].Kind != hall.OpsShardDraining || v.Events[1].Shard != "r-0" {
		t.Fatalf("events %+v", v.Events)
	}
	if len(v.Regions) != 1 || len(v.Regions[0].Shards) != 2 {
		t.Fatalf("regions %+v", v.Regions)
	}
	sh := v.Regions[0].Shards[0]
	if sh.Name != "r-0" || !sh.Draining || sh.Players != 1 || sh.Stale || len(sh.Rooms) != 2 {
		t.Fatalf("the draining shard: %+v", sh)
	}
	if v.Regions[0].Capacity != 12 {
		t.Fatalf("capacity in service %d, want 12 (the draining shard's rooms take no one)", v.Regions[0].Capacity)
	}
	if got := view("1").Events; len(got) != 1 || got[0].Seq != 2 {
		t.Fatalf("events since 1: %+v", got)
	}

	resp := e.get("/v1/ops", e.player("bob"))
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string }
	}
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body.Error.Message, "the ticket is for player, not hall.ops") {
		t.Fatalf("player ticket: %s %+v", resp.Status, body)
	}
}
