package hall

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"
)

func decode(t *testing.T, b []byte) WatchMessage {
	t.Helper()
	var m WatchMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

// payload strips the WebSocket header of an unmasked server frame.
func payload(t *testing.T, f []byte) []byte {
	t.Helper()
	switch n := f[1] & 0x7F; n {
	case 126:
		return f[4:]
	case 127:
		return f[10:]
	default:
		return f[2:]
	}
}

func rooms(shard string, first, n, players int) []Room {
	var out []Room
	for i := range n {
		out = append(out, Room{Room: first + i, Shard: shard, Address: "10.0.0.1", Port: 7000, Players: players, Capacity: 400})
	}
	return out
}

func view(t *testing.T, snap []byte) map[int]Room {
	t.Helper()
	v := map[int]Room{}
	m := decode(t, snap)
	m.Apply(v, 0)
	return v
}

// TestDeltaFromAnyVersion: a client at any earlier version (of any page, or
// the whole region) that applies the one delta the hall sends it ends with
// exactly the current rooms, however the shards changed in between: counts,
// new rooms, rooms withdrawn and offered again, rooms moving shards.
func TestDeltaFromAnyVersion(t *testing.T) {
	const pageSize = 7
	d := newDirectory("e", pageSize)
	d.setRegions([]RegionInfo{{Name: "r"}})
	r := d.regions["r"]
	rnd := rand.New(rand.NewPCG(1, 2))
	// Three shards of 10 rooms; shard 2 comes and goes, a room of shard 0
	// sometimes moves to shard 1.
	state := map[string][]Room{}
	var snaps [][]map[int]Room // by version, by page (0 = region)
	pages := 5
	record := func() {
		d.mu.RLock()
		defer d.mu.RUnlock()
		var byPage []map[int]Room
		for p := 0; p <= pages; p++ {
			byPage = append(byPage, view(t, d.encodeSnapshot(r, p)))
		}
		for uint64(len(snaps)) <= r.version {
			snaps = append(snaps, byPage)
		}
	}
	record()
	for step := range 300 {
		shard := fmt.Sprintf("s%d", rnd.IntN(3))
		first := 1 + 10*int(shard[1]-'0')
		switch x := rnd.IntN(10); {
		case x == 0 && shard == "s2":
			state[shard] = nil // the shard leaves
		case x == 1 && shard == "s1":
			state[shard] = append(rooms("s1", 11, 10, rnd.IntN(400)), Room{Room: 1, Shard: "s1", Address: "10.0.0.1", Port: 7000, Players: 3, Capacity: 400})
			state["s0"] = rooms("s0", 2, 9, rnd.IntN(400))
		default:
			rs := rooms(shard, first, 10, 0)
			for i := range rs {
				rs[i].Players = rnd.IntN(400)
			}
			if x == 2 {
				rs[3].Port = 7001 // more than the count changed
			}
			state[shard] = rs
		}
		d.setShard(nil, "r", shard, state[shard], time.Now())
		if shard == "s1" {
			d.setShard(nil, "r", "s0", state["s0"], time.Now())
		}
		if step%3 == 0 { // several changes per version, like the hall's batching
			d.publish()
			record()
		}
	}
	d.publish()
	record()
	final := snaps[r.version]
	d.mu.RLock()
	defer d.mu.RUnlock()
	for since := range r.version {
		for p := 0; p <= pages; p++ {
			dl := d.encodeDelta(r, p, since)
			m := decode(t, payload(t, dl.frame))
			v := maps.Clone(snaps[since][p])
			if !m.Apply(v, since) || m.Version != r.version || m.Page != p {
				t.Fatalf("page %d: delta since %d did not apply: %+v", p, since, m)
			}
			if !maps.Equal(v, final[p]) {
				t.Fatalf("page %d: after the delta since %d:\n got %v\nwant %v", p, since, v, final[p])
			}
			if len(m.Rooms)+len(m.Counts)+len(m.Removed) == 0 && !dl.empty {
				t.Fatalf("page %d since %d: an empty delta not marked empty", p, since)
			}
		}
	}
}

func TestSetShard(t *testing.T) {
	d := newDirectory("e", 25)
	d.setRegions([]RegionInfo{{Name: "r"}})
	r := d.regions["r"]
	owner, stale := &follower{}, &follower{}
	d.owners["s0"] = owner

	d.setShard(owner, "r", "s0", rooms("s0", 1, 3, 5), time.Now())
	d.setShard(stale, "r", "s0", nil, time.Now()) // a stopped follower: ignored
	d.setShard(nil, "r", "s1", rooms("s1", 4, 2, 1), time.Now())
	d.setShard(nil, "nowhere", "s2", rooms("s2", 1, 2, 1), time.Now())
	d.setShard(nil, "r", "s3", []Room{{Room: 0}, {Room: maxRoomNumber + 1}}, time.Now()) // not room numbers
	if d.publish() != 1 || d.publish() != 0 {
		t.Fatal("publish: want one new version, then none without changes")
	}
	if r.rooms != 5 || r.players != 17 || r.capacity != 2000 || r.version != 1 || r.maxRoom != 5 {
		t.Fatalf("rooms %d players %d capacity %d version %d max %d", r.rooms, r.players, r.capacity, r.version, r.maxRoom)
	}
	// s0 shrinks to one room; unchanged rooms are not in the delta.
	d.setShard(owner, "r", "s0", rooms("s0", 1, 1, 5), time.Now())
	d.publish()
	m := decode(t, payload(t, d.encodeDelta(r, 0, 1).frame))
	if len(m.Rooms) != 0 || len(m.Counts) != 0 || len(m.Removed) != 2 || m.Removed[0] != 2 || m.Players != 7 || m.Since != 1 || m.Version != 2 {
		t.Fatalf("delta %+v", m)
	}
	// A room moves to another shard (a re-indexed shard took it).
	d.setShard(nil, "r", "s1", append(rooms("s1", 4, 2, 1), rooms("s1", 1, 1, 0)...), time.Now())
	d.setShard(owner, "r", "s0", nil, time.Now())
	d.publish()
	if got := r.slots[1]; got.Shard != "s1" || r.rooms != 3 || r.players != 2 {
		t.Fatalf("room 1 = %+v, %d rooms, %d players", got, r.rooms, r.players)
	}
	if len(r.shardRooms["s0"]) != 0 || len(r.shardRooms["s1"]) != 3 {
		t.Fatalf("shardRooms %v", r.shardRooms)
	}
	// The highest room leaves: the page count follows.
	d.setShard(nil, "r", "s1", rooms("s1", 1, 1, 0), time.Now())
	if r.maxRoom != 1 || r.pages(25) != 1 {
		t.Fatalf("max room %d, pages %d", r.maxRoom, r.pages(25))
	}
	// Removing the region marks it gone and wakes its watchers.
	d.setRegions(nil)
	select {
	case <-r.gone:
	default:
		t.Fatal("watchers not told the region is gone")
	}
}

func TestPages(t *testing.T) {
	d := newDirectory("e", 25)
	d.setRegions([]RegionInfo{{Name: "r"}})
	r := d.regions["r"]
	d.setShard(nil, "r", "s0", rooms("s0", 1, 50, 400), time.Now()) // pages 1-2, full
	d.setShard(nil, "r", "s2", rooms("s2", 101, 10, 0), time.Now()) // page 5, empty rooms
	d.publish()
	if got := r.pages(25); got != 5 {
		t.Fatalf("pages = %d, want 5", got)
	}
	for _, tt := range []struct{ page, lo, hi int }{{0, 1, 110}, {1, 1, 25}, {2, 26, 50}, {5, 101, 110}, {9, 201, 110}} {
		if lo, hi := r.bounds(tt.page, 25); lo != tt.lo || hi != tt.hi {
			t.Errorf("bounds(%d) = %d..%d, want %d..%d", tt.page, lo, hi, tt.lo, tt.hi)
		}
	}
	d.mu.RLock()
	m := decode(t, d.encodeSnapshot(r, 4)) // between the shards: empty
	d.mu.RUnlock()
	if m.Type != "snapshot" || len(m.Rooms) != 0 || m.Page != 4 || m.Pages != 5 || m.RoomCount != 60 || m.Players != 20000 {
		t.Fatalf("page 4 snapshot %+v", m)
	}
	h := &Server{dir: d}
	for range 50 {
		if p := h.autoPage(r); p != 5 {
			t.Fatalf("auto page %d: only page 5 has free seats", p)
		}
	}
}

func TestWriteStringEscapes(t *testing.T) {
	for _, s := range []string{"plain-name.1", `quo"te`, "new\nline", "<tag>", "ünï"} {
		var b bytes.Buffer
		writeString(&b, s)
		m := decode(t, []byte(`{"region":`+b.String()+`}`))
		if m.Region != s {
			t.Fatalf("%q round-tripped to %q", s, m.Region)
		}
	}
}
