// Command shardload measures one game-server shard under load: N players
// over loopback, all seated and playing Dou Dizhu (a move per table about
// every --move-interval), room chat every --chat-interval per player. It
// reports p50/p99 from a move to its delivery at the other two seats, p99 of
// a room chat reaching every member, and the shard's RSS per player and CPU.
//
// With --spawn it starts redis-server and `gamehall gameserver` itself, so
// the shard is a process of its own and its RSS is measured alone:
//
//	go build -o bin/gamehall ./cmd/gamehall
//	go run ./hack/shardload --spawn bin/gamehall --players 3000 --duration 20s
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/protocol/pb"
	"github.com/gamehall/gamehall/ticket"
)

var (
	players      = flag.Int("players", 3000, "players to connect")
	capacity     = flag.Int("room-capacity", 400, "players per room")
	tablesPer    = flag.Int("tables-per-room", 134, "tables per room (≥ capacity/3 so everyone sits)")
	duration     = flag.Duration("duration", 20*time.Second, "measurement window after everyone is seated")
	moveInterval = flag.Duration("move-interval", time.Second, "a seat moves this long after its turn starts")
	chatInterval = flag.Duration("chat-interval", 5*time.Minute, "each player says something in the room this often (random phase)")
	spawn        = flag.String("spawn", "", "path of the gamehall binary: start redis-server and the shard as child processes")
	addr         = flag.String("addr", "", "players' address of a running shard (without --spawn)")
	internal     = flag.String("internal", "", "internal address of a running shard (without --spawn)")
	keyDir       = flag.String("keys", "", "ticket keys of a running shard (without --spawn), as 'gamehall keys new --dir' writes them: the shard has DIR/verification")
	redisAddr    = flag.String("redis", "", "presence Redis of a running shard (without --spawn)")
	dialers      = flag.Int("dialers", 64, "concurrent connection set-ups")
	chatOnly     = flag.Bool("chat-only", false, "players enter their room and only chat (no tables): the shard's cost per delivered message, e.g. --players 1200 --chat-interval 5s")
	shardCPUs    = flag.String("shard-cpus", "", "with --spawn: run the shard under `taskset -c` on these CPUs (pin shardload itself elsewhere: taskset -c 1 shardload --shard-cpus 0)")
	perfStat     = flag.Bool("perf", false, "count the shard's system calls and context switches in the window with `perf stat` (needs perf and --spawn)")
)

// hist is a log-bucketed latency histogram (2% resolution), safe for
// concurrent use.
type hist struct{ b [1200]atomic.Int64 }

func (h *hist) add(d time.Duration) {
	us := float64(d.Microseconds())
	if us < 1 {
		us = 1
	}
	i := int(logf(us) / logf(1.02))
	if i >= len(h.b) {
		i = len(h.b) - 1
	}
	h.b[i].Add(1)
}

func (h *hist) reset() {
	for i := range h.b {
		h.b[i].Store(0)
	}
}

func (h *hist) count() int64 {
	var n int64
	for i := range h.b {
		n += h.b[i].Load()
	}
	return n
}

func (h *hist) quantile(q float64) time.Duration {
	n := h.count()
	if n == 0 {
		return 0
	}
	want := int64(q * float64(n))
	var acc int64
	for i := range h.b {
		acc += h.b[i].Load()
		if acc > want {
			return time.Duration(powf(1.02, float64(i+1))) * time.Microsecond
		}
	}
	return 0
}

type table struct {
	mu     sync.Mutex
	sentNo uint32 // move number the last move will get
	sentAt time.Time
}

type player struct {
	mu    sync.Mutex
	c     *client.Conn
	name  string
	view  client.TableView
	tbl   *table
	timer *time.Timer
}

var (
	moveLat   hist
	chatLat   hist
	moves     atomic.Int64
	errs      atomic.Int64
	measuring atomic.Bool
	chatMu    sync.Mutex
	chats     = map[string]*chatStat{}
	roomSize  = map[int32]int{}
)

type chatStat struct {
	room int32
	sent time.Time
	got  int
	last time.Duration
}

func (p *player) onEvent(env *pb.Envelope) {
	now := time.Now()
	if m := env.GetChatMessage(); m != nil {
		if ts, err := strconv.ParseInt(m.Text, 10, 64); err == nil {
			d := now.Sub(time.Unix(0, ts))
			if measuring.Load() {
				chatLat.add(d)
				chatMu.Lock()
				if st := chats[m.Text]; st != nil {
					st.got++
					st.last = max(st.last, d)
				}
				chatMu.Unlock()
			}
		}
		return
	}
	if e := env.GetError(); e != nil {
		errs.Add(1)
		return
	}
	ge := env.GetGameEvent()
	if ge == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ge.Kind {
	case pb.GameEventKind_PLAY, pb.GameEventKind_PASS, pb.GameEventKind_BID:
		if int(ge.Seat) != p.view.MySeat {
			t := p.tbl
			t.mu.Lock()
			if t.sentNo == ge.MoveNo && measuring.Load() {
				moveLat.add(now.Sub(t.sentAt))
			}
			t.mu.Unlock()
		}
	}
	p.view.Apply(ge)
	switch {
	case ge.Kind == pb.GameEventKind_TURN && p.view.MyTurn():
		turnNo := ge.MoveNo
		p.timer = time.AfterFunc(*moveInterval, func() { p.move(turnNo) })
	case ge.Kind == pb.GameEventKind_GAME_OVER || ge.Kind == pb.GameEventKind_ESCAPE:
		p.timer = time.AfterFunc(*moveInterval, func() {
			p.c.Send(&pb.Envelope{Msg: &pb.Envelope_Ready{Ready: &pb.Ready{}}})
		})
	}
}

func (p *player) move(turnNo uint32) {
	p.mu.Lock()
	if p.view.MoveNo != turnNo || !p.view.MyTurn() {
		p.mu.Unlock()
		return
	}
	bid, cards := p.view.Choose()
	bidding := p.view.Phase == pb.GamePhase_BIDDING
	p.mu.Unlock()
	t := p.tbl
	t.mu.Lock()
	t.sentNo, t.sentAt = turnNo+1, time.Now()
	t.mu.Unlock()
	var env *pb.Envelope
	if bidding {
		env = &pb.Envelope{Msg: &pb.Envelope_Bid{Bid: &pb.Bid{Bid: int32(bid)}}}
	} else {
		env = &pb.Envelope{Msg: &pb.Envelope_Play{Play: &pb.Play{Cards: cards}}}
	}
	if p.c.Send(env) == nil {
		moves.Add(1)
	}
}

func main() {
	flag.Parse()
	log := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
	}
	rooms := (*players + *capacity - 1) / *capacity

	var shardPid int
	if *spawn != "" {
		dir, err := os.MkdirTemp("", "shardload")
		must(err)
		defer os.RemoveAll(dir)
		*keyDir = filepath.Join(dir, "keys")
		k, err := ticket.GenerateKey()
		must(err)
		files := ticket.KeyFiles{Dir: *keyDir}
		must(files.Add("k1", k))
		must(files.Activate("k1"))
		rport, pport, iport := freePort(), freePort(), freePort()
		rs := exec.Command("redis-server", "--port", strconv.Itoa(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
		must(rs.Start())
		defer rs.Process.Kill()
		*redisAddr = "127.0.0.1:" + strconv.Itoa(rport)
		args := []string{*spawn, "gameserver", "--rooms", strconv.Itoa(rooms), "--room-capacity", strconv.Itoa(*capacity),
			"--tables-per-room", strconv.Itoa(*tablesPer), "--port", strconv.Itoa(pport), "--internal-port", strconv.Itoa(iport),
			"--verification-keys", ticket.KeyFiles{Dir: *keyDir}.VerificationDir(), "--redis", *redisAddr, "--turn-timeout", "30s"}
		if *shardCPUs != "" {
			// taskset execs the shard in its own process, so the pid is the shard's.
			args = append([]string{"taskset", "-c", *shardCPUs}, args...)
		}
		gs := exec.Command(args[0], args[1:]...)
		gs.Stderr = os.Stderr
		must(gs.Start())
		defer gs.Process.Kill()
		shardPid = gs.Process.Pid
		*addr, *internal = "127.0.0.1:"+strconv.Itoa(pport), "127.0.0.1:"+strconv.Itoa(iport)
		waitListen(*addr)
		waitListen(*redisAddr)
	}
	keys, err := ticket.LoadKeyring(ticket.KeyFiles{Dir: *keyDir}.SigningDir(), ticket.KeyFiles{Dir: *keyDir}.VerificationDir())
	must(err)
	rdb := redis.NewClient(&redis.Options{Addr: *redisAddr})
	pres := presence.NewRedis(rdb, "gamehall:")
	defer pres.Close()

	rssBase := rss(shardPid)
	cpuBase := cpuTime(shardPid)
	ctx := context.Background()
	tables := make([]*table, rooms**tablesPer)
	for i := range tables {
		tables[i] = &table{}
	}
	all := make([]*player, *players)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, *dialers)
	var failed atomic.Int64
	for i := range all {
		room, j := i / *capacity, i%*capacity
		p := &player{name: fmt.Sprintf("load%06d", i), tbl: tables[room**tablesPer+j/3]}
		all[i] = p
		roomSize[int32(room+1)]++
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			sess := "sess-" + p.name
			if _, err := pres.Login(ctx, p.name, sess, time.Hour); err != nil {
				failed.Add(1)
				return
			}
			tok, err := keys.Sign(ticket.Player(p.name, sess), time.Hour)
			must(err)
			dctx, dcancel := context.WithTimeout(ctx, 60*time.Second)
			defer dcancel()
			c, err := client.Dial(dctx, *addr, tok, client.Options{OnEvent: p.onEvent})
			if err != nil {
				log("dial %s: %v", p.name, err)
				failed.Add(1)
				return
			}
			p.c = c
			rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			if _, err := c.EnterRoom(rctx, room+1); err != nil {
				log("enter %s: %v", p.name, err)
				failed.Add(1)
				return
			}
			if *chatOnly {
				return
			}
			st, err := c.SitDown(rctx, j/3, j%3)
			if err != nil {
				log("sit %s: %v", p.name, err)
				failed.Add(1)
				return
			}
			p.mu.Lock()
			p.view.Reset(st)
			p.mu.Unlock()
			if err := c.Ready(rctx); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	log("%d players connected and seated in %v (%d failed)", *players, time.Since(start).Round(time.Millisecond), failed.Load())

	// Chat: each player at a random phase of its interval; keep-alive pings.
	stop := make(chan struct{})
	for _, p := range all {
		if p.c == nil {
			continue
		}
		go func() {
			phase := time.Duration(rand.Int64N(int64(*chatInterval)))
			t := time.NewTimer(phase)
			ping := time.NewTicker(15 * time.Second)
			defer ping.Stop()
			for {
				select {
				case <-stop:
					t.Stop()
					return
				case <-ping.C:
					p.c.Send(&pb.Envelope{Msg: &pb.Envelope_Ping{Ping: &pb.Ping{}}})
				case <-t.C:
					text := strconv.FormatInt(time.Now().UnixNano(), 10)
					if measuring.Load() {
						chatMu.Lock()
						chats[text] = &chatStat{room: p.c.Welcome.Room, sent: time.Now()}
						chatMu.Unlock()
					}
					p.c.Send(&pb.Envelope{Msg: &pb.Envelope_Chat{Chat: &pb.Chat{Scope: pb.ChatScope_ROOM, Text: text}}})
					t.Reset(*chatInterval)
				}
			}
		}()
	}
	// Warm up a few move intervals so every table is in a game, then measure.
	time.Sleep(3 * *moveInterval)
	runtime.GC()
	moveLat.reset()
	chatLat.reset()
	moves.Store(0)
	errs.Store(0)
	rssStart, cpuStart := rss(shardPid), cpuTime(shardPid)
	selfStart := cpuTime(os.Getpid())
	framesStart := metricValue("http://"+*internal+"/metrics", "gamehall_frames_out_total")
	writesStart := metricValue("http://"+*internal+"/metrics", "gamehall_socket_writes_total")
	var counters *perfCounters
	if *perfStat && shardPid != 0 {
		counters = startPerf(shardPid, *duration)
	}
	measuring.Store(true)
	t0 := time.Now()
	time.Sleep(*duration)
	measuring.Store(false)
	el := time.Since(t0)
	rssEnd, cpuEnd := rss(shardPid), cpuTime(shardPid)
	selfEnd := cpuTime(os.Getpid())
	framesEnd := metricValue("http://"+*internal+"/metrics", "gamehall_frames_out_total")
	writesEnd := metricValue("http://"+*internal+"/metrics", "gamehall_socket_writes_total")
	close(stop)

	// A chat reached "all" when every other member of its room got it.
	var full []time.Duration
	chatMu.Lock()
	for _, st := range chats {
		if st.got >= roomSize[st.room]-1 && st.got > 0 {
			full = append(full, st.last)
		}
	}
	nchats := len(chats)
	chatMu.Unlock()
	sort.Slice(full, func(i, j int) bool { return full[i] < full[j] })
	q := func(v []time.Duration, f float64) time.Duration {
		if len(v) == 0 {
			return 0
		}
		return v[min(len(v)-1, int(f*float64(len(v))))]
	}

	fmt.Printf("players            %d (failed %d) in %d rooms of %d, %d tables/room\n", *players, failed.Load(), rooms, *capacity, *tablesPer)
	fmt.Printf("window             %v\n", el.Round(time.Millisecond))
	fmt.Printf("moves sent         %d (%.0f/s), error answers %d\n", moves.Load(), float64(moves.Load())/el.Seconds(), errs.Load())
	fmt.Printf("move delivery      n=%d p50=%v p99=%v (send → each other seat)\n", moveLat.count(), moveLat.quantile(.5), moveLat.quantile(.99))
	fmt.Printf("room chat          n=%d deliveries p50=%v p99=%v; messages %d, reached all: %d, p99 to reach all=%v\n",
		chatLat.count(), chatLat.quantile(.5), chatLat.quantile(.99), nchats, len(full), q(full, .99))
	if shardPid != 0 {
		fmt.Printf("shard RSS          base %.1f MB, loaded %.1f MB → %.1f KB/player (over base: %.1f KB/player)\n",
			mb(rssBase), mb(rssEnd), float64(rssEnd)/1024/float64(*players), float64(rssEnd-rssBase)/1024/float64(*players))
		fmt.Printf("shard CPU          %.2f cores during the window (%.1f s CPU setup)\n", (cpuEnd-cpuStart)/el.Seconds(), cpuStart-cpuBase)
		_ = rssStart
	}
	fmt.Printf("load generator CPU %.2f cores during the window\n", (selfEnd-selfStart)/el.Seconds())
	if frames := framesEnd - framesStart; frames > 0 && shardPid != 0 {
		// Chat-only: every frame out is a chat delivery (plus a few pongs
		// and OKs), so CPU per frame is the cost per delivered message.
		cpu := cpuEnd - cpuStart
		fmt.Printf("shard frames out   %.0f/s; shard CPU %.2f µs per frame delivered\n", frames/el.Seconds(), cpu*1e6/frames)
		if writes := writesEnd - writesStart; writes > 0 { // shards that count their writes
			fmt.Printf("shard socket writes %.0f/s, %.2f frames per write\n", writes/el.Seconds(), frames/writes)
		}
		if *chatOnly {
			n := chatLat.count()
			fmt.Printf("chat deliveries    %d (%.0f/s); shard CPU %.2f µs per chat delivery\n", n, float64(n)/el.Seconds(), cpu*1e6/float64(max(n, 1)))
		}
		if counters != nil {
			if sys, cs, err := counters.wait(); err == nil {
				fmt.Printf("shard system calls %.3f per frame delivered (%d in the window), context switches %.4f per frame\n", float64(sys)/frames, sys, float64(cs)/frames)
			} else {
				fmt.Printf("perf stat: %v\n", err)
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("machine loadavg    %s", b)
	}
	if *internal != "" {
		if p50, p99, n, err := serverDelivery("http://" + *internal + "/metrics"); err == nil {
			show := func(d time.Duration) string {
				if d < 0 || d == time.Duration(math.MaxInt64) { // the +Inf bucket
					return ">1s"
				}
				return "≤" + d.String()
			}
			fmt.Printf("shard-side queue→socket (gamehall_delivery_seconds, whole run) n=%d p50%s p99%s\n", n, show(p50), show(p99))
		}
	}
	for _, p := range all {
		if p.c != nil {
			p.c.Close()
		}
	}
}

// serverDelivery reads the shard's delivery histogram and returns the bucket
// bounds holding the median and the 99th percentile.
func serverDelivery(url string) (p50, p99 time.Duration, n int64, err error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	type bucket struct {
		le  float64
		cum int64
	}
	var bs []bucket
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, `gamehall_delivery_seconds_bucket{le="`)
		if !ok {
			continue
		}
		le, cnt, _ := strings.Cut(rest, `"} `)
		v, _ := strconv.ParseFloat(le, 64)
		c, _ := strconv.ParseFloat(cnt, 64) // large counts come as 1.2e+06
		bs = append(bs, bucket{v, int64(c)})
	}
	if len(bs) == 0 {
		return 0, 0, 0, fmt.Errorf("no histogram")
	}
	n = bs[len(bs)-1].cum
	at := func(q float64) time.Duration {
		for _, b := range bs {
			if float64(b.cum) >= q*float64(n) {
				return time.Duration(b.le * float64(time.Second))
			}
		}
		return time.Duration(math.MaxInt64) // above the last bucket
	}
	return at(.5), at(.99), n, nil
}

// metricValue reads one unlabelled counter or gauge from a /metrics page (0
// if absent).
func metricValue(url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "shardload:", err)
		os.Exit(1)
	}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitListen(a string) {
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", a); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	must(fmt.Errorf("%s does not listen", a))
}

// rss reads VmRSS of pid in bytes (0 without a pid).
func rss(pid int) int64 {
	if pid == 0 {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// cpuTime is pid's user+system CPU seconds.
func cpuTime(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func logf(x float64) float64 { return math.Log(x) }

func powf(b, e float64) float64 { return math.Pow(b, e) }
