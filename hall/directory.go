package hall

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Room is one room as the directory offers it.
type Room struct {
	Room     int    `json:"room"`
	Shard    string `json:"shard"`
	Address  string `json:"address"`
	Port     int    `json:"port"`
	Players  int    `json:"players"`
	Capacity int    `json:"capacity"`
}

// directory holds the visible rooms of every region, versioned per region,
// with the recent deltas kept (already encoded) so watchers can catch up
// or resume without a new snapshot.
type directory struct {
	epoch    string // changes when the hall restarts: versions restart too
	ringSize int

	mu      sync.RWMutex
	regions map[string]*region
	owners  map[string]*follower // shard → the follower allowed to write it
	made    int                  // regions created, for region epochs
}

type region struct {
	info  RegionInfo
	epoch string // the hall's epoch and this region's incarnation

	rooms      map[int]Room
	shardRooms map[string][]int // shard → its visible room numbers
	players    int
	capacity   int
	version    uint64
	pending    map[int]pend // changed rooms since the last publish
	ring       []*delta     // circular, the last ringSize deltas (for resume)
	// head is the latest delta (a sentinel at version 0 before any).
	// Watchers follow the chain head.next… without taking d.mu: each
	// node's ready channel closes once its next is set.
	head     *delta
	sentinel *delta        // the chain's start, version 0; nil once delta 1 leaves the ring
	latest   atomic.Uint64 // head's version, readable without d.mu
	gone     chan struct{} // closed when the region is removed

	snapMu sync.Mutex // held while building a snapshot
	snap   atomic.Pointer[snapshot]
}

// pend is a room changed since the last publish.
type pend struct {
	at   time.Time // when the hall first saw a change
	full bool      // more than the player count changed (or the room is new)
}

type delta struct {
	version  uint64 // the version this delta brings a client to (from version-1)
	msg      []byte // encoded watch message
	received time.Time
	rooms    int
	next     *delta        // written once, before ready is closed
	ready    chan struct{} // closed when next is set
}

type snapshot struct {
	version uint64
	json    []byte // the rooms document (GET .../rooms)
	gz      []byte // json, gzipped once for all clients that accept it
	watch   []byte // the watch stream's snapshot message
	node    *delta // the chain node at version: watchers continue from it
	built   time.Time
}

// snapshotEvery bounds how often a changing region's snapshot is rebuilt:
// a 50,000-room region changes every publish, and its snapshot is ~5 MB.
const snapshotEvery = 250 * time.Millisecond

func newDirectory(epoch string, ringSize int) *directory {
	return &directory{epoch: epoch, ringSize: ringSize, regions: map[string]*region{}, owners: map[string]*follower{}}
}

// setRegions makes the listed regions exist and removes the others.
func (d *directory) setRegions(infos []RegionInfo) {
	d.mu.Lock()
	defer d.mu.Unlock()
	keep := map[string]bool{}
	for _, info := range infos {
		keep[info.Name] = true
		if r, ok := d.regions[info.Name]; ok {
			r.info = info
			continue
		}
		d.made++
		d.regions[info.Name] = &region{
			info: info, epoch: d.epoch + "-" + strconv.Itoa(d.made), rooms: map[int]Room{}, shardRooms: map[string][]int{},
			pending: map[int]pend{}, gone: make(chan struct{}),
		}
		r := d.regions[info.Name]
		r.sentinel = &delta{ready: make(chan struct{})}
		r.head = r.sentinel
	}
	for name, r := range d.regions {
		if !keep[name] {
			close(r.gone) // watchers are told and closed
			delete(d.regions, name)
		}
	}
}

// setShard replaces the visible rooms of shard in regionName (nil: none),
// if owner still owns the shard. It records which rooms changed.
func (d *directory) setShard(owner *follower, regionName, shard string, rooms []Room, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if owner != nil && d.owners[shard] != owner {
		return // a stopped follower's late write
	}
	r := d.regions[regionName]
	if r == nil {
		return
	}
	mark := func(n int, full bool) {
		p, ok := r.pending[n]
		if !ok {
			p.at = now
		}
		p.full = p.full || full
		r.pending[n] = p
	}
	now2 := map[int]bool{}
	for _, rm := range rooms {
		now2[rm.Room] = true
	}
	kept := r.shardRooms[shard][:0]
	for _, n := range r.shardRooms[shard] {
		if now2[n] {
			kept = append(kept, n)
			continue
		}
		if old, ok := r.rooms[n]; ok && old.Shard == shard {
			r.players -= old.Players
			r.capacity -= old.Capacity
			delete(r.rooms, n)
			mark(n, true)
		}
	}
	r.shardRooms[shard] = kept
	for _, rm := range rooms {
		old, had := r.rooms[rm.Room]
		if had && old == rm {
			continue
		}
		if had {
			r.players -= old.Players
			r.capacity -= old.Capacity
			if old.Shard != shard { // a room moved shards: take it from the old one's list
				r.shardRooms[old.Shard] = remove(r.shardRooms[old.Shard], rm.Room)
			}
		}
		if !had || old.Shard != shard {
			r.shardRooms[shard] = append(r.shardRooms[shard], rm.Room)
		}
		r.rooms[rm.Room] = rm
		r.players += rm.Players
		r.capacity += rm.Capacity
		countOnly := had && old.Shard == rm.Shard && old.Address == rm.Address && old.Port == rm.Port && old.Capacity == rm.Capacity
		mark(rm.Room, !countOnly)
	}
	if len(r.shardRooms[shard]) == 0 {
		delete(r.shardRooms, shard)
	}
}

func remove(s []int, n int) []int {
	for i, v := range s {
		if v == n {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

// publish turns each region's pending changes into one delta. It returns
// the number of deltas made.
func (d *directory) publish() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, r := range d.regions {
		if len(r.pending) == 0 {
			continue
		}
		r.version++
		nums := make([]int, 0, len(r.pending))
		first := time.Time{}
		for num, p := range r.pending {
			nums = append(nums, num)
			if first.IsZero() || p.at.Before(first) {
				first = p.at
			}
		}
		sort.Ints(nums)
		dl := &delta{version: r.version, received: first, rooms: len(nums), msg: r.encodeDelta(nums), ready: make(chan struct{})}
		clear(r.pending)
		if len(r.ring) < d.ringSize {
			r.ring = append(r.ring, dl)
		} else {
			r.ring[int((r.version-1)%uint64(d.ringSize))] = dl
		}
		r.head.next = dl
		close(r.head.ready)
		r.head = dl
		if r.version > uint64(d.ringSize) {
			// Delta 1 has left the ring: version 0 can no longer be
			// resumed, and holding the sentinel would keep the whole
			// chain (every delta ever made) in memory.
			r.sentinel = nil
		}
		r.latest.Store(dl.version)
		n++
	}
	return n
}

// since returns the deltas that bring a client from version v to the
// current one, or ok=false if they are no longer kept. d.mu is held.
func (d *directory) since(r *region, v uint64) (out []*delta, ok bool) {
	if v > r.version {
		return nil, false
	}
	if r.version-v > uint64(len(r.ring)) {
		return nil, false
	}
	for ver := v + 1; ver <= r.version; ver++ {
		out = append(out, r.ring[int((ver-1)%uint64(d.ringSize))])
	}
	return out, true
}

// nodeAt returns the chain node at version v, if still kept. d.mu is held.
func (d *directory) nodeAt(r *region, v uint64) (*delta, bool) {
	if v == r.version {
		return r.head, true
	}
	if v > r.version {
		return nil, false
	}
	// The ring never holds the version-0 sentinel, so the range check
	// below cannot find it. Version 0 is a real client version: a
	// snapshot taken before the first publish already carries the
	// (pending) rooms at version 0. The sentinel is kept while delta 1
	// is still in the ring (publish drops it after).
	if v == 0 {
		return r.sentinel, r.sentinel != nil
	}
	if r.version-v >= uint64(len(r.ring)) {
		return nil, false
	}
	return r.ring[int((v-1)%uint64(d.ringSize))], true
}

// snapshotOf returns a recent snapshot of the region. It is encoded at
// most once per version and per snapshotEvery, however many clients ask;
// while one request builds a newer one, others get the previous one. A
// snapshot is never wrong, only possibly a little old: it carries its
// version, and watchers continue with the deltas after it. It may also
// hold changes not yet published (rooms changed since its version): the
// next delta carries those rooms' full state again, so applying it is
// harmless, and a client may resume from the snapshot's version.
func (d *directory) snapshotOf(r *region) *snapshot {
	cur := r.snap.Load()
	if cur != nil && (cur.version == r.latest.Load() || time.Since(cur.built) < snapshotEvery) {
		return cur
	}
	if cur != nil {
		if !r.snapMu.TryLock() {
			return cur // being rebuilt: don't queue behind it
		}
	} else {
		r.snapMu.Lock()
	}
	defer r.snapMu.Unlock()
	d.mu.RLock()
	if s := r.snap.Load(); s != nil && s.version == r.version {
		d.mu.RUnlock()
		return s
	}
	// r.info is rewritten by setRegions under d.mu: copy the name here.
	name, version, players, capacity, node := r.info.Name, r.version, r.players, r.capacity, r.head
	rooms := make([]Room, 0, len(r.rooms))
	for _, rm := range r.rooms {
		rooms = append(rooms, rm)
	}
	d.mu.RUnlock()
	sort.Slice(rooms, func(i, j int) bool { return rooms[i].Room < rooms[j].Room })

	var body bytes.Buffer
	body.Grow(len(rooms) * 96)
	writeHead := func(typ string) {
		body.WriteString(`{"type":"` + typ + `","region":`)
		writeString(&body, name)
		body.WriteString(`,"epoch":`)
		writeString(&body, r.epoch)
		body.WriteString(`,"version":` + strconv.FormatUint(version, 10))
		body.WriteString(`,"players":` + strconv.Itoa(players) + `,"capacity":` + strconv.Itoa(capacity) + `,"rooms":[`)
		for i, rm := range rooms {
			if i > 0 {
				body.WriteByte(',')
			}
			writeRoom(&body, rm)
		}
		body.WriteString("]}")
	}
	writeHead("snapshot")
	s := &snapshot{version: version, node: node, built: time.Now(), watch: append([]byte(nil), body.Bytes()...), json: body.Bytes()}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(s.json)
	zw.Close()
	s.gz = gz.Bytes()
	r.snap.Store(s)
	return s
}

// encodeDelta encodes the current state of rooms nums; d.mu is held.
// Rooms whose player count alone changed go in "counts" as [room, players]
// pairs: most changes are seats, and a compact delta is what lets one
// replica feed thousands of watchers.
func (r *region) encodeDelta(nums []int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"type":"delta","region":`)
	writeString(&b, r.info.Name)
	b.WriteString(`,"version":` + strconv.FormatUint(r.version, 10))
	b.WriteString(`,"players":` + strconv.Itoa(r.players) + `,"capacity":` + strconv.Itoa(r.capacity) + `,"rooms":[`)
	var removed, counts []int
	first := true
	for _, n := range nums {
		rm, ok := r.rooms[n]
		switch {
		case !ok:
			removed = append(removed, n)
		case !r.pending[n].full:
			counts = append(counts, n)
		default:
			if !first {
				b.WriteByte(',')
			}
			first = false
			writeRoom(&b, rm)
		}
	}
	b.WriteString(`],"counts":[`)
	for i, n := range counts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("[" + strconv.Itoa(n) + "," + strconv.Itoa(r.rooms[n].Players) + "]")
	}
	b.WriteString(`],"removed":[`)
	for i, n := range removed {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(n))
	}
	b.WriteString("]}")
	return b.Bytes()
}

func writeRoom(b *bytes.Buffer, rm Room) {
	b.WriteString(`{"room":` + strconv.Itoa(rm.Room) + `,"shard":`)
	writeString(b, rm.Shard)
	b.WriteString(`,"address":`)
	writeString(b, rm.Address)
	b.WriteString(`,"port":` + strconv.Itoa(rm.Port) + `,"players":` + strconv.Itoa(rm.Players) + `,"capacity":` + strconv.Itoa(rm.Capacity) + "}")
}

// writeString writes s as a JSON string. Names are DNS-like, so the fast
// path is taken; anything else goes through encoding/json.
func writeString(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s)
			b.Write(j)
			return
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}
