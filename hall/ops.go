package hall

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/ticket"
)

// The operator's live view (GET /v1/ops, the page at /ops): every region's
// shards and rooms, draining shards included, players online, and the
// scaling events the hall saw in its topology (a shard added, draining,
// back in service, removed) — in local mode and under the operator alike.

// opsEventsKept bounds the scaling events kept for the view.
const opsEventsKept = 200

// OpsEvent is one change of a region's shards.
type OpsEvent struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Region  string    `json:"region"`
	Shard   string    `json:"shard"`
	Kind    string    `json:"kind"` // added, draining, undrained, removed
	Message string    `json:"message"`
}

// Kinds of OpsEvent.
const (
	OpsShardAdded     = "added"
	OpsShardDraining  = "draining"
	OpsShardUndrained = "undrained"
	OpsShardRemoved   = "removed"
)

// OpsView is the body of GET /v1/ops.
type OpsView struct {
	Time     time.Time   `json:"time"`
	Hall     string      `json:"hall"`
	Watchers int64       `json:"watchers"`
	Sessions int64       `json:"sessions"` // live login sessions (presence), -1 unknown
	Players  int         `json:"players"`
	Regions  []OpsRegion `json:"regions"`
	Events   []OpsEvent  `json:"events"`            // after ?since=SEQ, oldest first
	Metrics  string      `json:"metrics,omitempty"` // the hall's /metrics (internal port), if known
}

// OpsRegion is one region in the view.
type OpsRegion struct {
	Name        string     `json:"name"`
	DisplayName string     `json:"displayName"`
	Players     int        `json:"players"`
	Capacity    int        `json:"capacity"` // of the shards in service
	Shards      []OpsShard `json:"shards"`
}

// OpsShard is one shard: its rooms as [room, players, capacity].
type OpsShard struct {
	Name     string   `json:"name"`
	Address  string   `json:"address"`
	Ready    bool     `json:"ready"`
	Draining bool     `json:"draining"`
	Players  int      `json:"players"`
	Capacity int      `json:"capacity"`
	Rooms    [][3]int `json:"rooms"`
	Metrics  string   `json:"metrics,omitempty"` // the shard's /metrics (internal port)
	Stale    bool     `json:"stale,omitempty"`   // its counts could not be read
}

// opsLog keeps the last topology and the events derived from it.
type opsLog struct {
	mu     sync.Mutex
	known  map[string]ShardInfo // nil before the first topology
	events []OpsEvent
	seq    uint64
	// sessions is the presence's live session count at the last advertise
	// (-1: the store cannot count them).
	sessions atomic.Int64
}

// observe records what changed between the last topology and t. The first
// topology is the starting point, not a burst of "added".
func (o *opsLog) observe(t Topology, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	next := make(map[string]ShardInfo, len(t.Shards))
	for _, s := range t.Shards {
		next[s.Name] = s
	}
	if o.known != nil {
		for _, s := range t.Shards {
			old, ok := o.known[s.Name]
			switch {
			case !ok:
				o.add(now, s, OpsShardAdded, fmt.Sprintf("shard %s added to %s (rooms %d–%d)", s.Name, s.Region, s.FirstRoom, s.FirstRoom+s.Rooms-1))
			case s.Draining && !old.Draining:
				o.add(now, s, OpsShardDraining, fmt.Sprintf("shard %s draining: its rooms take no new players", s.Name))
			case !s.Draining && old.Draining:
				o.add(now, s, OpsShardUndrained, fmt.Sprintf("shard %s back in service", s.Name))
			}
		}
		for name, s := range o.known {
			if _, ok := next[name]; !ok {
				o.add(now, s, OpsShardRemoved, fmt.Sprintf("shard %s removed from %s", s.Name, s.Region))
			}
		}
	}
	o.known = next
}

func (o *opsLog) add(now time.Time, s ShardInfo, kind, msg string) {
	o.seq++
	o.events = append(o.events, OpsEvent{Seq: o.seq, Time: now, Region: s.Region, Shard: s.Name, Kind: kind, Message: msg})
	if len(o.events) > opsEventsKept {
		o.events = o.events[len(o.events)-opsEventsKept:]
	}
}

func (o *opsLog) since(seq uint64) ([]OpsEvent, map[string]ShardInfo) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := sort.Search(len(o.events), func(i int) bool { return o.events[i].Seq > seq })
	return append([]OpsEvent(nil), o.events[i:]...), o.known
}

// handleOps serves the operator's view to a service ticket.
func (h *Server) handleOps(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		login.WriteError(w, http.StatusMethodNotAllowed, login.CodeMethodNotAllowed, "use GET")
		return
	}
	// A ticket for anything but hall.ops (a player's) is refused with 403.
	if _, ok := login.Authenticate(w, r, h.deps.Keys, ticket.AudHallOps); !ok {
		return
	}
	var since uint64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			login.WriteError(w, http.StatusBadRequest, login.CodeBadRequest, "since must be an event number: "+err.Error())
			return
		}
		since = n
	}
	w.Header().Set("Cache-Control", "no-store")
	login.WriteJSON(w, http.StatusOK, h.OpsView(r.Context(), since))
}

// OpsView builds the operator's view with the events after since.
func (h *Server) OpsView(ctx context.Context, since uint64) OpsView {
	events, shards := h.ops.since(since)
	v := OpsView{Time: time.Now(), Hall: h.cfg.Name, Watchers: h.clients.Load(), Sessions: h.ops.sessions.Load(),
		Events: events, Metrics: h.cfg.MetricsURL}
	if v.Events == nil {
		v.Events = []OpsEvent{}
	}
	byRegion := map[string][]ShardInfo{}
	for _, s := range shards {
		byRegion[s.Region] = append(byRegion[s.Region], s)
	}
	h.dir.mu.RLock()
	type followed struct {
		rooms [][3]int
		ok    bool
	}
	seen := map[string]followed{}
	var regions []OpsRegion
	for _, reg := range h.dir.regions {
		regions = append(regions, OpsRegion{Name: reg.info.Name, DisplayName: reg.info.DisplayName})
		for shard, nums := range reg.shardRooms {
			f := followed{ok: true}
			for _, n := range nums {
				if s := &reg.slots[n]; s.offered {
					f.rooms = append(f.rooms, [3]int{s.Room.Room, s.Players, s.Capacity})
				}
			}
			seen[shard] = f
		}
	}
	h.dir.mu.RUnlock()
	// Shards out of the directory (draining, not ready yet) are asked
	// directly, all at once with a short timeout.
	var ask []ShardInfo
	for _, list := range byRegion {
		for _, s := range list {
			if _, ok := seen[s.Name]; !ok && s.InternalURL != "" {
				ask = append(ask, s)
			}
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, s := range ask { // seen is written below: decide first
		wg.Go(func() {
			rooms, err := h.shardRooms(ctx, s)
			mu.Lock()
			seen[s.Name] = followed{rooms: rooms, ok: err == nil}
			mu.Unlock()
		})
	}
	wg.Wait()
	for i := range regions {
		reg := &regions[i]
		list := byRegion[reg.Name]
		sort.Slice(list, func(a, b int) bool { return list[a].FirstRoom < list[b].FirstRoom })
		for _, s := range list {
			f := seen[s.Name]
			os := OpsShard{Name: s.Name, Address: fmt.Sprintf("%s:%d", s.Address, s.Port), Ready: s.Ready, Draining: s.Draining,
				Rooms: f.rooms, Stale: !f.ok, Capacity: s.Rooms * s.RoomCapacity}
			if s.InternalURL != "" {
				os.Metrics = s.InternalURL + "/metrics"
			}
			if os.Rooms == nil {
				os.Rooms = [][3]int{}
			}
			sort.Slice(os.Rooms, func(a, b int) bool { return os.Rooms[a][0] < os.Rooms[b][0] })
			for _, rm := range os.Rooms {
				os.Players += rm[1]
			}
			reg.Players += os.Players
			if !s.Draining {
				reg.Capacity += os.Capacity
			}
			reg.Shards = append(reg.Shards, os)
		}
		if reg.Shards == nil {
			reg.Shards = []OpsShard{}
		}
		v.Players += reg.Players
	}
	sort.Slice(regions, func(a, b int) bool { return regions[a].Name < regions[b].Name })
	v.Regions = regions
	if v.Regions == nil {
		v.Regions = []OpsRegion{}
	}
	return v
}

// shardRooms reads a shard's rooms from its internal port (GET /v1/stats).
func (h *Server) shardRooms(ctx context.Context, s ShardInfo) ([][3]int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	tok, err := h.deps.Keys.Sign(ticket.Service("hall/"+h.cfg.Name, ticket.AudShardRead), time.Minute)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.InternalURL+"/v1/stats", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s/v1/stats: %s", s.InternalURL, resp.Status)
	}
	// gameserver.Stats, decoded without importing the shard.
	var st struct {
		Rooms []struct{ Room, Players, Capacity int }
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("%s/v1/stats: %w", s.InternalURL, err)
	}
	out := make([][3]int, 0, len(st.Rooms))
	for _, rm := range st.Rooms {
		out = append(out, [3]int{rm.Room, rm.Players, rm.Capacity})
	}
	return out, nil
}
