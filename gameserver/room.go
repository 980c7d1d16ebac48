package gameserver

import (
	"sync"
	"time"

	"github.com/gamehall/gamehall/protocol"
	"github.com/gamehall/gamehall/protocol/pb"
)

// Room holds up to capacity players and tablesPerRoom tables. Its mutex guards
// membership, the tables and their games, so every change in a room is
// ordered and broadcasts go out in that order.
type Room struct {
	s   *Server
	num int32 // global room number
	idx int   // index on this shard
	cap int

	mu       sync.Mutex
	members  []*player // p.idx is the position, for O(1) removal
	reserved int       // entries admitted but waiting for presence
	tables   []*table
	playing  int // tables with a game running
	pending  []*pb.RoomEvent
	armed    bool // a flush of pending is scheduled

	// Room-wide messages (chat, membership events) are gathered for
	// RoomTick and go to every member as one batch: one write per member
	// per tick instead of one per message.
	out      []byte // frames queued since the last tick
	outAt    int64  // when the oldest of them was queued (unix ns)
	outArmed bool   // a tick is scheduled
}

func newRoom(s *Server, idx int) *Room {
	r := &Room{s: s, num: int32(s.cfg.FirstRoom + idx), idx: idx, cap: s.cfg.RoomCapacity}
	r.tables = make([]*table, s.cfg.TablesPerRoom)
	for i := range r.tables {
		r.tables[i] = &table{room: r, num: int32(i), landlord: -1}
	}
	return r
}

// reserve takes a place for an entering player. The check and the count are
// one step under the lock, so concurrent entries never exceed capacity.
func (r *Room) reserve() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.members)+r.reserved >= r.cap {
		return false
	}
	r.reserved++
	return true
}

func (r *Room) unreserve() {
	r.mu.Lock()
	r.reserved--
	r.mu.Unlock()
}

// joinLocked turns a reservation into membership.
func (r *Room) joinLocked(p *player) {
	r.reserved--
	p.idx = len(r.members)
	r.members = append(r.members, p)
	p.room.Store(r)
	p.table, p.seat = nil, -1
	r.eventLocked(&pb.RoomEvent{Kind: pb.RoomEventKind_ENTER, Account: p.account, Table: -1, Seat: -1})
	r.s.occ.set(r.idx, len(r.members))
	r.s.playerCountChanged(+1)
}

// removeLocked takes p out of the room (standing up first). The caller has
// already settled any game at p's table.
func (r *Room) removeLocked(p *player) {
	if p.table != nil {
		p.table.standLocked(p)
	}
	last := len(r.members) - 1
	r.members[p.idx] = r.members[last]
	r.members[p.idx].idx = p.idx
	r.members[last] = nil
	r.members = r.members[:last]
	p.room.Store(nil)
	r.eventLocked(&pb.RoomEvent{Kind: pb.RoomEventKind_LEAVE, Account: p.account, Table: -1, Seat: -1})
	r.s.occ.set(r.idx, len(r.members))
	r.s.playerCountChanged(-1)
}

// eventLocked queues a membership event; they go out batched, because 400
// players entering and leaving would otherwise cost 400 frames per change.
func (r *Room) eventLocked(ev *pb.RoomEvent) {
	r.pending = append(r.pending, ev)
	if !r.armed {
		r.armed = true
		time.AfterFunc(r.s.cfg.RoomEventBatch, r.flush)
	}
}

func (r *Room) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.armed = false
	if len(r.pending) == 0 {
		return
	}
	r.queueLocked(&pb.Envelope{Msg: &pb.Envelope_RoomEvents{RoomEvents: &pb.RoomEvents{
		Room: r.num, Players: int32(len(r.members)), Events: r.pending,
	}}})
	r.pending = nil
	r.tickLocked() // membership events have waited RoomEventBatch already
}

// queueLocked adds a room-wide message to the batch of the next tick. It is
// encoded once, here, for all members.
func (r *Room) queueLocked(env *pb.Envelope) {
	if len(r.out) == 0 {
		r.outAt = time.Now().UnixNano()
	}
	var err error
	if r.out, err = protocol.AppendFrame(r.out, env); err != nil {
		panic(err) // the server's own messages always encode
	}
	if !r.outArmed {
		r.outArmed = true
		time.AfterFunc(r.s.cfg.RoomTick, r.tick)
	}
}

func (r *Room) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outArmed = false
	r.tickLocked()
}

// tickLocked queues the batch to every connected member: the same bytes
// for all, no allocation per member; each member's writer writes it (with
// whatever else it has queued) in one system call.
func (r *Room) tickLocked() {
	if len(r.out) == 0 {
		return
	}
	b, at := r.out, r.outAt
	r.out = make([]byte, 0, len(b)) // b now belongs to the members' queues
	for _, m := range r.members {
		if c := m.conn.Load(); c != nil {
			c.send(b, at)
		}
	}
}

// stateLocked is the room as p sees it on entry or resume.
func (r *Room) stateLocked(p *player) *pb.RoomState {
	st := &pb.RoomState{Room: r.num, Players: int32(len(r.members)), Capacity: int32(r.cap),
		TablesTotal: int32(len(r.tables)), MyTable: -1, MySeat: -1}
	for _, t := range r.tables {
		if t.occupied() {
			st.Tables = append(st.Tables, t.infoLocked())
		}
	}
	if p.table != nil {
		st.MyTable, st.MySeat = p.table.num, int32(p.seat)
	}
	return st
}

func (r *Room) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members)
}
