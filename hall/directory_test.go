package hall

import (
	"encoding/json"
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

func rooms(shard string, first, n, players int) []Room {
	var out []Room
	for i := range n {
		out = append(out, Room{Room: first + i, Shard: shard, Address: "10.0.0.1", Port: 7000, Players: players, Capacity: 400})
	}
	return out
}

// TestRingKeepsRecentDeltas: clients within RingSize versions catch up with
// deltas; older ones need a snapshot.
func TestRingKeepsRecentDeltas(t *testing.T) {
	d := newDirectory("e", 4)
	d.setRegions([]RegionInfo{{Name: "r"}})
	r := d.regions["r"]
	for v := 1; v <= 10; v++ {
		d.setShard(nil, "r", "s0", rooms("s0", 1, 2, v), time.Now())
		if d.publish() != 1 {
			t.Fatalf("publish %d made no delta", v)
		}
	}
	if d.publish() != 0 {
		t.Fatal("publish without changes made a delta")
	}
	tests := []struct {
		since uint64
		ok    bool
		n     int
	}{
		{10, true, 0}, {9, true, 1}, {6, true, 4}, {5, false, 0}, {0, false, 0}, {11, false, 0},
	}
	for _, tt := range tests {
		ds, ok := d.since(r, tt.since)
		if ok != tt.ok || len(ds) != tt.n {
			t.Fatalf("since(%d) = %d deltas, %v; want %d, %v", tt.since, len(ds), ok, tt.n, tt.ok)
		}
		for i, dl := range ds {
			m := decode(t, dl.msg)
			if m.Version != tt.since+uint64(i)+1 || m.Type != "delta" || len(m.Counts) != 2 || m.Counts[0] != [2]int{1, int(m.Version)} {
				t.Fatalf("since(%d)[%d] = %+v", tt.since, i, m)
			}
		}
	}
	for _, tt := range []struct {
		v  uint64
		ok bool
	}{{10, true}, {7, true}, {6, false}, {0, false}, {11, false}} {
		n, ok := d.nodeAt(r, tt.v)
		if ok != tt.ok || (ok && n.version != tt.v) {
			t.Fatalf("nodeAt(%d) = %v, %v", tt.v, n, ok)
		}
	}
	// Following the chain from a node yields the later deltas in order.
	n, _ := d.nodeAt(r, 8)
	for want := uint64(9); want <= 10; want++ {
		<-n.ready
		if n = n.next; n.version != want {
			t.Fatalf("chain gave %d, want %d", n.version, want)
		}
	}
	s := decode(t, d.snapshotOf(r).watch)
	if s.Version != 10 || len(s.Rooms) != 2 || s.Players != 20 || s.Capacity != 800 || s.Epoch != r.epoch {
		t.Fatalf("snapshot %+v", s)
	}
}

// TestResumeFromVersionZero: a snapshot taken before the first publish
// holds the pending rooms at version 0; a client holding it resumes from
// the chain's start while delta 1 is in the ring, and not after.
func TestResumeFromVersionZero(t *testing.T) {
	d := newDirectory("e", 4)
	d.setRegions([]RegionInfo{{Name: "r"}})
	r := d.regions["r"]
	d.setShard(nil, "r", "s0", rooms("s0", 1, 2, 0), time.Now())
	if s := decode(t, d.snapshotOf(r).watch); s.Version != 0 || len(s.Rooms) != 2 {
		t.Fatalf("snapshot before the first publish: %+v", s)
	}
	for v := 1; v <= 5; v++ {
		d.setShard(nil, "r", "s0", rooms("s0", 1, 2, v), time.Now())
		d.publish()
		n, ok := d.nodeAt(r, 0)
		if want := v <= 4; ok != want {
			t.Fatalf("at version %d: nodeAt(0) ok = %v, want %v", v, ok, want)
		}
		if !ok {
			if r.sentinel != nil {
				t.Fatal("sentinel kept after delta 1 left the ring")
			}
			continue
		}
		// The chain from version 0 yields every delta in order.
		for want := uint64(1); want <= uint64(v); want++ {
			<-n.ready
			if n = n.next; n.version != want {
				t.Fatalf("at version %d: chain gave %d, want %d", v, n.version, want)
			}
		}
	}
}

func TestSetShard(t *testing.T) {
	d := newDirectory("e", 16)
	d.setRegions([]RegionInfo{{Name: "r"}})
	r := d.regions["r"]
	owner, stale := &follower{}, &follower{}
	d.owners["s0"] = owner

	d.setShard(owner, "r", "s0", rooms("s0", 1, 3, 5), time.Now())
	d.setShard(stale, "r", "s0", nil, time.Now()) // a stopped follower: ignored
	d.setShard(nil, "r", "s1", rooms("s1", 4, 2, 1), time.Now())
	d.setShard(nil, "nowhere", "s2", rooms("s2", 1, 2, 1), time.Now())
	d.publish()
	if len(r.rooms) != 5 || r.players != 17 || r.capacity != 2000 {
		t.Fatalf("rooms %d players %d capacity %d", len(r.rooms), r.players, r.capacity)
	}
	// s0 shrinks to one room; unchanged rooms are not in the delta.
	d.setShard(owner, "r", "s0", rooms("s0", 1, 1, 5), time.Now())
	d.publish()
	ds, _ := d.since(r, 1)
	m := decode(t, ds[0].msg)
	if len(m.Rooms) != 0 || len(m.Counts) != 0 || len(m.Removed) != 2 || m.Removed[0] != 2 || m.Players != 7 {
		t.Fatalf("delta %+v", m)
	}
	// A room moves to another shard (a re-indexed shard took it).
	d.setShard(nil, "r", "s1", append(rooms("s1", 4, 2, 1), rooms("s1", 1, 1, 0)...), time.Now())
	d.setShard(owner, "r", "s0", nil, time.Now())
	d.publish()
	if got := r.rooms[1]; got.Shard != "s1" || len(r.rooms) != 3 || r.players != 2 {
		t.Fatalf("room 1 = %+v, %d rooms, %d players", got, len(r.rooms), r.players)
	}
	if len(r.shardRooms["s0"]) != 0 || len(r.shardRooms["s1"]) != 3 {
		t.Fatalf("shardRooms %v", r.shardRooms)
	}
	// Removing the region marks it gone and wakes its watchers.
	d.setRegions(nil)
	select {
	case <-r.gone:
	default:
		t.Fatal("watchers not told the region is gone")
	}
}

func TestWriteStringEscapes(t *testing.T) {
	for _, s := range []string{"plain-name.1", `quo"te`, "new\nline", "<tag>", "ünï"} {
		m := decode(t, []byte(`{"region":`+quote(s)+`}`))
		if m.Region != s {
			t.Fatalf("%q round-tripped to %q", s, m.Region)
		}
	}
}
