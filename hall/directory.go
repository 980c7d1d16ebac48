package hall

import (
	"bytes"
	"compress/gzip"
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

// maxRoomNumber bounds the room numbers the directory indexes (rooms are
// kept in a slice by number): 20,000 shards of 50 rooms.
const maxRoomNumber = 1 << 20

// directory holds the visible rooms of every region, versioned per region.
// Each room remembers the version of its last change, so the changes since
// any version of the region's epoch are the rooms whose version is newer:
// a client catches up from any version with one message, and a page's
// changes are found by scanning its rooms.
type directory struct {
	epoch    string // changes when the hall restarts: versions restart too
	pageSize int

	mu      sync.RWMutex
	regions map[string]*region
	owners  map[string]*follower // shard → the follower allowed to write it
	made    int                  // regions created, for region epochs
}

type region struct {
	info  RegionInfo
	epoch string // the hall's epoch and this region's incarnation

	slots      []slot           // by room number (slot 0 unused)
	shardRooms map[string][]int // shard → its visible room numbers
	rooms      int              // rooms offered
	players    int
	capacity   int
	maxRoom    int        // the highest room number offered
	pageLoad   []pageLoad // by page-1, for page=auto
	version    uint64     // the last published version
	dirty      bool       // slots changed at version+1, not yet published
	latest     atomic.Uint64
	gone       chan struct{} // closed when the region is removed

	snapMu sync.Mutex // held while building a snapshot
	snap   atomic.Pointer[snapshot]
}

// slot is one room number of a region: the room if offered, and when it
// last changed.
type slot struct {
	Room
	offered bool
	ver     uint64 // version of the last change (offered, changed or withdrawn)
	fullVer uint64 // version of the last change beyond the player count
	at      int64  // when the hall saw the change at ver (unix ns), for the lag metric
}

type pageLoad struct{ players, capacity int }

type snapshot struct {
	version uint64
	json    []byte // the rooms document (GET .../rooms), also the page-0 watch snapshot
	gz      []byte // json, gzipped once for all clients that accept it
	frame   []byte // json as a WebSocket frame
	built   time.Time
}

// snapshotEvery bounds how often a changing region's snapshot is rebuilt:
// a 50,000-room region changes every publish, and its snapshot is ~5 MB.
const snapshotEvery = 250 * time.Millisecond

func newDirectory(epoch string, pageSize int) *directory {
	return &directory{epoch: epoch, pageSize: pageSize, regions: map[string]*region{}, owners: map[string]*follower{}}
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
			info: info, epoch: d.epoch + "-" + strconv.Itoa(d.made), slots: make([]slot, 1),
			shardRooms: map[string][]int{}, gone: make(chan struct{}),
		}
	}
	for name, r := range d.regions {
		if !keep[name] {
			close(r.gone) // watchers are told and closed
			delete(d.regions, name)
		}
	}
}

// setShard replaces the visible rooms of shard in regionName (nil: none),
// if owner still owns the shard. Changed rooms get the next version.
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
	ch := change{r: r, ver: r.version + 1, at: now.UnixNano(), pageSize: d.pageSize}
	listed := make(map[int]bool, len(rooms))
	for _, rm := range rooms {
		listed[rm.Room] = true
	}
	kept := r.shardRooms[shard][:0]
	for _, n := range r.shardRooms[shard] {
		if listed[n] {
			kept = append(kept, n)
			continue
		}
		if s := &r.slots[n]; s.offered && s.Shard == shard {
			ch.withdraw(n)
		}
	}
	r.shardRooms[shard] = kept
	for _, rm := range rooms {
		if rm.Room < 1 || rm.Room > maxRoomNumber {
			continue // not a room number this directory indexes
		}
		ch.offer(shard, rm)
	}
	if len(r.shardRooms[shard]) == 0 {
		delete(r.shardRooms, shard)
	}
}

// change applies one shard's update to a region (d.mu held).
type change struct {
	r        *region
	ver      uint64
	at       int64
	pageSize int
}

func (c change) touch(s *slot, full bool) {
	if s.ver != c.ver {
		s.ver, s.at = c.ver, c.at
	}
	if full {
		s.fullVer = c.ver
	}
	c.r.dirty = true
}

func (c change) load(n, players, capacity int) {
	r := c.r
	r.players += players
	r.capacity += capacity
	p := (n - 1) / c.pageSize
	for len(r.pageLoad) <= p {
		r.pageLoad = append(r.pageLoad, pageLoad{})
	}
	r.pageLoad[p].players += players
	r.pageLoad[p].capacity += capacity
}

func (c change) withdraw(n int) {
	r := c.r
	s := &r.slots[n]
	c.load(n, -s.Players, -s.Capacity)
	r.rooms--
	s.offered = false
	s.Room = Room{Room: n}
	c.touch(s, true)
	for r.maxRoom > 0 && !r.slots[r.maxRoom].offered {
		r.maxRoom--
	}
}

func (c change) offer(shard string, rm Room) {
	r := c.r
	for len(r.slots) <= rm.Room {
		r.slots = append(r.slots, slot{})
	}
	s := &r.slots[rm.Room]
	if s.offered && s.Room == rm {
		return
	}
	countOnly := s.offered && s.Shard == rm.Shard && s.Address == rm.Address && s.Port == rm.Port && s.Capacity == rm.Capacity
	if s.offered {
		c.load(rm.Room, -s.Players, -s.Capacity)
		if s.Shard != shard { // a room moved shards: take it from the old one's list
			r.shardRooms[s.Shard] = remove(r.shardRooms[s.Shard], rm.Room)
		}
	} else {
		r.rooms++
	}
	if !s.offered || s.Shard != shard {
		r.shardRooms[shard] = append(r.shardRooms[shard], rm.Room)
	}
	s.Room, s.offered = rm, true
	c.load(rm.Room, rm.Players, rm.Capacity)
	c.touch(s, !countOnly)
	r.maxRoom = max(r.maxRoom, rm.Room)
}

func remove(s []int, n int) []int {
	for i, v := range s {
		if v == n {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

// publish makes each region's pending changes a new version. It returns
// the number of regions that changed.
func (d *directory) publish() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, r := range d.regions {
		if !r.dirty {
			continue
		}
		r.version++
		r.dirty = false
		r.latest.Store(r.version)
		n++
	}
	return n
}

// pages is how many pages the region's room numbers span.
func (r *region) pages(pageSize int) int {
	return (r.maxRoom + pageSize - 1) / pageSize
}

// bounds are the room numbers of page (0: the whole region), clipped to the
// slots that exist.
func (r *region) bounds(page, pageSize int) (lo, hi int) {
	lo, hi = 1, len(r.slots)-1
	if page > 0 {
		lo, hi = max(lo, (page-1)*pageSize+1), min(hi, page*pageSize)
	}
	return lo, hi
}

// snapshotOf returns a recent snapshot of the whole region. It is encoded
// at most once per version and per snapshotEvery, however many clients ask;
// while one request builds a newer one, others get the previous one. A
// snapshot is never wrong, only possibly a little old: it carries its
// version, and watchers continue with the changes after it. It may also
// hold changes not yet published (rooms changed since its version): the
// next delta carries those rooms' state again, so applying it is harmless.
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
	if s := r.snap.Load(); s != nil && s.version == r.latest.Load() {
		return s
	}
	d.mu.RLock()
	version := r.version
	body := d.encodeSnapshot(r, 0)
	d.mu.RUnlock()
	s := &snapshot{version: version, built: time.Now(), json: body, frame: appendFrame(make([]byte, 0, len(body)+10), opText, body)}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(s.json)
	zw.Close()
	s.gz = gz.Bytes()
	r.snap.Store(s)
	return s
}
