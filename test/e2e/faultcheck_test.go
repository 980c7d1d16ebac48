//go:build e2e

package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/internal/e2e"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/ticket"
)

// kickDeadline: an account may be in two places this long (a kick's way
// through Redis and the shard), plus one poll, before it is a violation.
const kickDeadline = 2 * time.Second

// faultRun holds a fault suite's cluster, the invariant checks that run
// all along, and what the scenarios did.
type faultRun struct {
	t       testing.TB
	c       *e2e.Cluster
	obs     *e2e.Observer
	service string // a service ticket: the shards' /v1/stats
	extra   *e2e.Bots

	mu         sync.Mutex
	violations []violation
	killedAddr map[string]bool      // players' addresses of shards the suite killed
	twice      map[string]time.Time // account → since when it is in two places
	held       map[string]bool      // accounts the shards hold (last poll)
	peak       int                  // most players seen at once
	reseated   time.Duration        // shard killed: from the kill to its players in rooms again
	reseatedN  int                  // how many players that was
	stopped    chan struct{}
	done       chan struct{}
}

type violation struct {
	at   time.Time
	what string
}

func newFaultRun(t testing.TB, c *e2e.Cluster) *faultRun {
	f := &faultRun{t: t, c: c, killedAddr: map[string]bool{}, twice: map[string]time.Time{}, held: map[string]bool{},
		stopped: make(chan struct{}), done: make(chan struct{})}
	var sec corev1.Secret
	// The Hall's signing Secret, as the README creates it: the suite signs
	// a service ticket that may read the shards' stats.
	f.must(c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "gamehall-ticket-signing"}, &sec))
	priv, active, err := ticket.ParseSigningFiles(sec.Data, "Secret gamehall-ticket-signing")
	f.must(err)
	kr, err := ticket.NewKeyring(priv, active)
	f.must(err)
	f.service, err = kr.Sign(ticket.Service("fault-suite", ticket.AudShardRead), time.Hour)
	f.must(err)
	f.obs = c.WatchInvariants(ns)
	f.obs.AllowRestarts = true // the suite kills processes
	go f.watchShards()
	return f
}

func (f *faultRun) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *faultRun) violate(format string, args ...any) {
	v := violation{time.Now(), fmt.Sprintf(format, args...)}
	f.mu.Lock()
	f.violations = append(f.violations, v)
	f.mu.Unlock()
	f.c.Progressf("INVARIANT VIOLATED: %s", v.what)
}

func (f *faultRun) killed(addr string) {
	f.mu.Lock()
	f.killedAddr[addr] = true
	f.mu.Unlock()
}

// shardRef is one of the Region's game servers.
type shardRef struct {
	name     string // GameServer and pod
	addr     string // players' address (node:hostPort), as the hall gives it
	internal string // podIP:7001
	rooms    int32  // its first room
	players  int64
	marked   time.Time
	labels   map[string]string
}

// shards lists the Region's running game servers, from the API.
func (f *faultRun) shards() ([]shardRef, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var gss agonesv1.GameServerList
	if err := f.c.Client.List(ctx, &gss, client.InNamespace(ns), client.MatchingLabels{gamehallv1.LabelRegion: faultRegion}); err != nil {
		return nil, err
	}
	var out []shardRef
	for _, gs := range gss.Items {
		switch gs.Status.State {
		case agonesv1.GameServerStateReady, agonesv1.GameServerStateAllocated, agonesv1.GameServerStateReserved:
		default:
			continue // starting, or no longer running
		}
		if gs.DeletionTimestamp != nil || gs.Status.Address == "" || len(gs.Status.Ports) == 0 {
			continue
		}
		var pod corev1.Pod
		if err := f.c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: gs.Name}, &pod); err != nil || pod.Status.PodIP == "" {
			continue
		}
		var rs gamehallv1.RoomShard
		first := int32(1)
		if err := f.c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: gs.Labels[gamehallv1.LabelRoomShard]}, &rs); err == nil {
			first = rs.Spec.FirstRoom
		}
		out = append(out, shardRef{name: gs.Name, addr: net.JoinHostPort(gs.Status.Address, strconv.Itoa(int(gs.Status.Ports[0].Port))),
			internal: net.JoinHostPort(pod.Status.PodIP, "7001"), rooms: first, labels: gs.Labels})
	}
	return out, nil
}

type shardStats struct {
	gameserver.Stats
	PlayerList []gameserver.PlayerStat
}

func (f *faultRun) stats(s shardRef) (*shardStats, error) {
	req, _ := http.NewRequest("GET", "http://"+s.internal+"/v1/stats?players=1", nil)
	req.Header.Set("Authorization", "Bearer "+f.service)
	hc := http.Client{Timeout: 3 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %s", s.name, resp.Status)
	}
	var st shardStats
	return &st, json.NewDecoder(resp.Body).Decode(&st)
}

// watchShards asks every shard, twice a second, whom it holds: no room
// over its capacity; no account in rooms of two shards (one game) or
// connected to two for longer than a kick takes.
func (f *faultRun) watchShards() {
	defer close(f.done)
	var last []shardRef
	for {
		select {
		case <-f.stopped:
			return
		case <-time.After(500 * time.Millisecond):
		}
		if ss, err := f.shards(); err == nil {
			last = ss // the API server may be down: keep asking the shards it listed
		}
		where := map[string][]place{}
		held := map[string]bool{}
		total := 0
		for _, s := range last {
			st, err := f.stats(s)
			if err != nil {
				continue // killed, starting, or gone
			}
			total += st.Players
			for _, r := range st.Rooms {
				if r.Players > r.Capacity {
					f.violate("room %d of %s holds %d players, capacity %d", r.Room, s.name, r.Players, r.Capacity)
				}
			}
			for _, p := range st.PlayerList {
				held[p.Account] = true
				if p.Room != 0 || p.Connected {
					where[p.Account] = append(where[p.Account], place{s.name, p.Session, p.Room, p.Connected})
				}
			}
		}
		now := time.Now()
		f.mu.Lock()
		f.held = held
		f.peak = max(f.peak, total)
		for acc := range f.twice {
			if !twoPlaces(where[acc]) {
				delete(f.twice, acc)
			}
		}
		var bad []string
		for acc, w := range where {
			if !twoPlaces(w) {
				continue
			}
			since, ok := f.twice[acc]
			if !ok {
				f.twice[acc] = now
			} else if now.Sub(since) > kickDeadline+500*time.Millisecond {
				bad = append(bad, fmt.Sprintf("account %s in two places for %s: %s", acc, now.Sub(since).Round(100*time.Millisecond), fmt.Sprint(w)))
				f.twice[acc] = now.Add(time.Hour) // once per episode
			}
		}
		f.mu.Unlock()
		for _, b := range bad {
			f.violate("%s", b)
		}
	}
}

// place is where a shard holds an account.
type place struct {
	shard, session string
	room           int32
	connected      bool
}

// twoPlaces: the account is in rooms of two shards (two rooms of one game),
// or two of its sessions are connected. One session's socket that its
// client closed but a shard has not finished closing (its presence calls
// wait for a frozen Redis) is not a second live session.
func twoPlaces(ws []place) bool {
	rooms, sessions := 0, map[string]bool{}
	for _, w := range ws {
		if w.room != 0 {
			rooms++
		}
		if w.connected {
			sessions[w.session] = true
		}
	}
	return rooms > 1 || len(sessions) > 1
}

func (f *faultRun) stop() {
	close(f.stopped)
	<-f.done
	for _, v := range f.obs.Stop() {
		f.violate("%s", v)
	}
}

func (f *faultRun) waitPlayers(n int) {
	f.c.Eventually(fmt.Sprintf("%d players in the Region", n), 3*time.Minute, func() (bool, string) {
		st := f.regionStatus()
		return st.players >= int64(n), fmt.Sprintf("%+v", st)
	})
}

type regionStatus struct {
	shards, ready, draining, desired int32
	players                          int64
}

func (f *faultRun) regionStatus() regionStatus {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var r gamehallv1.Region
	if err := f.c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: faultRegion}, &r); err != nil {
		return regionStatus{}
	}
	s := r.Status
	return regionStatus{s.Shards, s.ReadyShards, s.DrainingShards, s.DesiredShards, s.Players}
}

func (f *faultRun) readyShards() int32 { return f.regionStatus().ready }

func (f *faultRun) busiestShard() shardRef {
	ss, err := f.shards()
	f.must(err)
	best := shardRef{players: -1}
	for _, s := range ss {
		if st, err := f.stats(s); err == nil && int64(st.Players) > best.players {
			best, best.players = s, int64(st.Players)
		}
	}
	if best.name == "" {
		f.t.Fatal("no shard answers")
	}
	return best
}

// seated lists the accounts in a room of the shards (all when s is nil,
// else only of s) that answer.
func (f *faultRun) seated(only *shardRef) map[string]bool {
	ss := []shardRef{}
	if only != nil {
		ss = append(ss, *only)
	} else if all, err := f.shards(); err == nil {
		ss = all
	}
	out := map[string]bool{}
	for _, s := range ss {
		st, err := f.stats(s)
		if err != nil {
			continue
		}
		for _, p := range st.PlayerList {
			if p.Room != 0 {
				out[p.Account] = true
			}
		}
	}
	return out
}

func (f *faultRun) shardRunning(name string) bool {
	ss, _ := f.shards()
	for _, s := range ss {
		if s.name == name {
			return true
		}
	}
	return false
}

// markedShard is a game server the operator labelled for drain.
func (f *faultRun) markedShard() (shardRef, bool) {
	ss, _ := f.shards()
	for _, s := range ss {
		if s.labels[gamehallv1.LabelDraining] == "true" && s.labels[gamehallv1.LabelDrainConfirmed] != "true" {
			s.marked = time.Now()
			return s, true
		}
	}
	return shardRef{}, false
}

// catchMark looks for a shard marked for drain every 100 ms: the mark
// stays unread for up to the shards' 5 s SDK poll.
func (f *faultRun) catchMark(within time.Duration) (shardRef, bool) {
	for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if gs, ok := f.markedShard(); ok {
			return gs, true
		}
	}
	return shardRef{}, false
}

func (f *faultRun) gsLabels(name string) map[string]string {
	var gs agonesv1.GameServer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &gs); err != nil {
		return nil
	}
	return gs.Labels
}

func (f *faultRun) drainConfirmed(name string) bool {
	return f.gsLabels(name)[gamehallv1.LabelDrainConfirmed] == "true"
}

func (f *faultRun) undrained(name string) bool {
	l := f.gsLabels(name)
	return l != nil && l[gamehallv1.LabelDraining] != "true" && l[gamehallv1.LabelDrainConfirmed] != "true"
}

func (f *faultRun) podIn(namespace, selector string) string {
	out, err := f.c.KubectlOut("-n", namespace, "get", "pods", "-l", selector, "-o", "jsonpath={.items[0].metadata.name}")
	f.must(err)
	return strings.TrimSpace(out)
}

func (f *faultRun) podOf(selector string) string { return f.podIn(ns, selector) }

func (f *faultRun) podIPs(selector string) []string {
	out, err := f.c.KubectlOut("get", "pods", "-l", selector, "-o", `jsonpath={range .items[*]}{.status.podIP}{" "}{end}`)
	f.must(err)
	return strings.Fields(out)
}

// waitPresenceWhole waits until Redis holds a session for every account
// the shards hold: what a Redis without its data gets back from the
// shards' heartbeat.
func (f *faultRun) waitPresenceWhole(what string) {
	ips := f.podIPs("app.kubernetes.io/name=redis")
	if len(ips) == 0 {
		f.t.Fatal("no Redis pod")
	}
	rc := redis.NewClient(&redis.Options{Addr: net.JoinHostPort(ips[0], "6379")})
	defer rc.Close()
	store := presence.NewRedis(rc, "gamehall:")
	f.c.Eventually("presence whole again after "+what, 3*time.Minute, func() (bool, string) {
		f.mu.Lock()
		var accs []string
		for a := range f.held {
			accs = append(accs, a)
		}
		f.mu.Unlock()
		missing := 0
		for _, a := range accs {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			s, err := store.Session(ctx, a)
			cancel()
			if err != nil || s == "" {
				missing++
			}
		}
		return len(accs) > 0 && missing == 0, fmt.Sprintf("%d of %d accounts the shards hold have no session in Redis", missing, len(accs))
	})
}
