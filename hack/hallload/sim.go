package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gamehall/gamehall/hall"
)

// simShard stands in for a game server's occupancy stream in load tests:
// the benchmark is about the hall, and one machine cannot run 1,000 real
// shards. It batches changes every 250 ms like the real shard.
type simShard struct {
	name          string
	first, n, cap int
	mu            sync.Mutex
	players       []int
	changes       []uint64 // per room: changes made (schedule mode)
	dirty         map[int]bool
	conn          chan struct{} // closed when a feed is open
}

const shardBatch = 250 * time.Millisecond

func newSimShard(name string, first, n, capacity int) *simShard {
	return &simShard{name: name, first: first, n: n, cap: capacity, players: make([]int, n), changes: make([]uint64, n), dirty: map[int]bool{}}
}

// set changes room (global number) to players.
func (s *simShard) set(room, players int) {
	s.mu.Lock()
	s.players[room-s.first] = players
	s.dirty[room] = true
	s.mu.Unlock()
}

// enter seats one player if the room has a free seat (the shard's atomic
// capacity check).
func (s *simShard) enter(room int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := room - s.first
	if s.players[i] >= s.cap {
		return false
	}
	s.players[i]++
	s.dirty[room] = true
	return true
}

// leaveRandom removes one player from a random non-empty room.
func (s *simShard) leaveRandom() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range 8 {
		i := rand.IntN(s.n)
		if s.players[i] > 0 {
			s.players[i]--
			s.dirty[s.first+i] = true
			return
		}
	}
}

func (s *simShard) counts(all bool) []hall.RoomCount {
	var out []hall.RoomCount
	for i, p := range s.players {
		if all || s.dirty[s.first+i] {
			out = append(out, hall.RoomCount{Room: s.first + i, Players: p, Capacity: s.cap})
		}
	}
	clear(s.dirty)
	return out
}

type simFeed struct {
	s      *simShard
	first  bool
	tick   *time.Ticker
	closed chan struct{}
	once   sync.Once
}

func (f *simFeed) Recv() (hall.OccupancyUpdate, error) {
	if f.first {
		f.first = false
		f.s.mu.Lock()
		defer f.s.mu.Unlock()
		return hall.OccupancyUpdate{Snapshot: true, Epoch: "sim", Rooms: f.s.counts(true)}, nil
	}
	select {
	case <-f.closed:
		return hall.OccupancyUpdate{}, errors.New("closed")
	case <-f.tick.C:
	}
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	return hall.OccupancyUpdate{Rooms: f.s.counts(false)}, nil
}

func (f *simFeed) Close() error {
	f.once.Do(func() { close(f.closed); f.tick.Stop() })
	return nil
}

// simDialer maps a shard's InternalURL ("sim://name") to its simShard.
func simDialer(shards map[string]*simShard) hall.Dialer {
	return func(ctx context.Context, baseURL, _ string) (hall.Feed, error) {
		s := shards[baseURL]
		if s == nil {
			return nil, errors.New("no sim shard " + baseURL)
		}
		return &simFeed{s: s, first: true, tick: time.NewTicker(shardBatch), closed: make(chan struct{})}, nil
	}
}

// schedule drives deterministic changes: room r's k-th change happens at
// T0 + (k + (r-1)/rooms) × period and sets its count to k mod capacity, so
// a watcher in another process can tell when the value it sees was made.
type schedule struct {
	T0       int64 `json:"t0"`     // unix ns
	Period   int64 `json:"period"` // ns between two changes of one room
	Rooms    int   `json:"rooms"`
	Capacity int   `json:"capacity"`
}

func (sc schedule) at(room int, k uint64) int64 {
	return sc.T0 + int64(k)*sc.Period + int64(room-1)*sc.Period/int64(sc.Rooms)
}

// madeAt returns when room's count became players, the latest such change
// not after now.
func (sc schedule) madeAt(room, players int, now int64) (int64, bool) {
	// k ≡ players (mod capacity), the largest with at(room, k) ≤ now.
	off := int64(room-1) * sc.Period / int64(sc.Rooms)
	if now < sc.T0+off {
		return 0, false
	}
	kmax := uint64((now - sc.T0 - off) / sc.Period)
	c := uint64(sc.Capacity)
	k := kmax - (kmax%c+c-uint64(players))%c
	if k > kmax {
		return 0, false
	}
	return sc.at(room, k), true
}

// run makes the scheduled changes of shard s until ctx ends.
func (sc schedule) run(ctx context.Context, s *simShard) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		s.mu.Lock()
		for i := range s.n {
			room := s.first + i
			for sc.at(room, s.changes[i]+1) <= now {
				s.changes[i]++
				s.players[i] = int(s.changes[i] % uint64(sc.Capacity))
				s.dirty[room] = true
			}
		}
		s.mu.Unlock()
	}
}
