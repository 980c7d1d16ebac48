package hall

import (
	"context"
	"sync"
)

// RegionInfo is a Region the hall lists.
type RegionInfo struct {
	Name        string
	Game        string
	DisplayName string
	// Database says where the region's players' data lives, for the
	// leaderboard and profile routes: on Kubernetes the path of its URL
	// under the hall's databases directory ("<secret>/<key>"), in local
	// mode its URL. "": the region keeps no players' data.
	Database string
}

// ShardInfo is what the hall knows of a RoomShard from its source.
type ShardInfo struct {
	Name    string
	Region  string
	Game    string
	Address string // public address clients connect to (host or IP)
	Port    int    // public TCP port
	// InternalURL is the base URL of the shard's internal HTTP port
	// (occupancy stream), e.g. "http://10.0.0.7:7001".
	InternalURL  string
	FirstRoom    int // global number of the shard's first room
	Rooms        int
	RoomCapacity int
	Ready        bool
	Draining     bool
}

// Topology is the full set of regions and shards at one moment.
type Topology struct {
	Regions []RegionInfo
	Shards  []ShardInfo
}

// ShardSource tells the hall which regions and shards exist. Watch sends
// the full topology at once and again after every change (a slow reader
// only gets the latest), until ctx ends, then closes the channel.
type ShardSource interface {
	Watch(ctx context.Context) <-chan Topology
}

// StaticSource is the ShardSource of local mode and tests: its owner calls
// Set whenever shards start, stop or change.
type StaticSource struct {
	mu   sync.Mutex
	cur  Topology
	set  bool
	subs map[chan Topology]struct{}
}

// NewStaticSource returns an empty source.
func NewStaticSource() *StaticSource {
	return &StaticSource{subs: map[chan Topology]struct{}{}}
}

// Set replaces the topology and notifies watchers.
func (s *StaticSource) Set(regions []RegionInfo, shards []ShardInfo) {
	t := Topology{Regions: append([]RegionInfo(nil), regions...), Shards: append([]ShardInfo(nil), shards...)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur, s.set = t, true
	for ch := range s.subs {
		offer(ch, t)
	}
}

// offer puts t in the 1-slot channel ch, replacing an unread older value.
func offer(ch chan Topology, t Topology) {
	for {
		select {
		case ch <- t:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

func (s *StaticSource) Watch(ctx context.Context) <-chan Topology {
	ch := make(chan Topology, 1)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	if s.set {
		ch <- s.cur
	}
	s.mu.Unlock()
	out := make(chan Topology)
	go func() {
		defer close(out)
		defer func() {
			s.mu.Lock()
			delete(s.subs, ch)
			s.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case t := <-ch:
				select {
				case out <- t:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}
