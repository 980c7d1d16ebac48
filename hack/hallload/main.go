// Command hallload measures the hall: logins per second against a real
// Redis, many watchers of a busy region, big snapshots, and how often
// players who pick rooms from a watched directory find them full.
//
// One process serves (hall + login + simulated shards), another loads it,
// so the server's memory per watcher is measured apart from the clients:
//
//	hallload serve -rooms 1000 -changes 5000 > /tmp/serve.out &
//	hallload watch -url $(head -1 /tmp/serve.out) -watchers 10000
//
// See docs/benchmarks.md ("Login and hall") for the recorded runs.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/ticket"
)

const region = "bench"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: hallload serve|login|watch|merge|mem|snapshot|stale [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	key := fs.String("key", "hallload-benchmark-key-0123456789abcdef", "ticket signing secret shared by serve and the clients")
	var run func() error
	switch os.Args[1] {
	case "serve":
		listen := fs.String("listen", "127.0.0.1:0", "")
		rooms := fs.Int("rooms", 1000, "rooms in the region")
		perShard := fs.Int("rooms-per-shard", 50, "")
		capacity := fs.Int("capacity", 400, "")
		changes := fs.Int("changes", 5000, "scheduled seat changes per second, all rooms (0: none)")
		fill := fs.Float64("fill", 0, "stale mode: fill rooms to this fraction and remove -leaves players/s")
		leaves := fs.Int("leaves", 0, "stale mode: players leaving per second")
		redisAddr := fs.String("redis", "", "Redis for presence (default: in memory)")
		interval := fs.Duration("delta-interval", 0, "hall delta batching (default: the hall's)")
		pageSize := fs.Int("page-size", 0, "rooms per page of the watch stream (default: the hall's)")
		watchMsgs := fs.Int("max-watch-messages", 0, "the hall's message budget a second to all watchers (default: the hall's)")
		delay := fs.Duration("delay", time.Second, "scheduled changes start after this (connect watchers first)")
		run = func() error {
			return serve(*key, *listen, *rooms, *perShard, *capacity, *changes, *fill, *leaves, *redisAddr, *interval, *pageSize, *watchMsgs, *delay)
		}
	case "login":
		url := fs.String("url", "", "")
		conc := fs.Int("concurrency", 32, "")
		dur := fs.Duration("duration", 10*time.Second, "")
		accounts := fs.Int("accounts", 100000, "distinct guest names (repeats supersede)")
		run = func() error { return loadLogin(*url, *conc, *dur, *accounts) }
	case "watch":
		var o watchOptions
		fs.StringVar(&o.url, "url", "", "")
		fs.IntVar(&o.watchers, "watchers", 10000, "")
		fs.IntVar(&o.sample, "sample", 200, "watchers that decode every message and time it")
		fs.DurationVar(&o.dur, "duration", 20*time.Second, "")
		fs.StringVar(&o.page, "page", "spread", "what each watcher watches: spread (watcher i watches page i mod pages + 1), auto, all (the whole region) or a page number")
		fs.IntVar(&o.first, "first", 0, "number of the first watcher (its ticket's account): give each of several processes its own range")
		fs.StringVar(&o.out, "out", "", "write the results as JSON here, for `hallload merge` (runs split over several processes)")
		run = func() error { return loadWatch(*key, o) }
	case "merge":
		base := fs.String("base", "", "the hall's /debug/mem before any watcher connected (from `hallload mem`)")
		run = func() error { return mergeWatch(*base, fs.Args()) }
	case "mem":
		url := fs.String("url", "", "")
		run = func() error { return printMem(*url) }
	case "snapshot":
		url := fs.String("url", "", "")
		conc := fs.Int("concurrency", 8, "")
		dur := fs.Duration("duration", 10*time.Second, "")
		run = func() error { return loadSnapshot(*url, *key, *conc, *dur) }
	case "stale":
		url := fs.String("url", "", "")
		watchers := fs.Int("watchers", 50, "watch connections the players share")
		joins := fs.Int("joins", 2500, "players entering rooms per second")
		dur := fs.Duration("duration", 20*time.Second, "")
		choices := fs.Int("choices", 2, "rooms a player compares (by free seats) before entering; 1 = any room the view shows with a free seat")
		run = func() error { return loadStale(*url, *key, *watchers, *joins, *choices, *dur) }
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
	fs.Parse(os.Args[2:])
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hallload:", err)
		os.Exit(1)
	}
}

// keyring derives the benchmark's Ed25519 key from the secret that serve
// and the client processes share.
func keyring(secret string) *ticket.Keyring {
	seed := sha256.Sum256([]byte(secret))
	k, err := ticket.NewKeyring(map[string]ed25519.PrivateKey{"bench": ed25519.NewKeyFromSeed(seed[:])}, "bench")
	if err != nil {
		panic(err)
	}
	return k
}

func serve(secret, listen string, rooms, perShard, capacity, changes int, fill float64, leaves int, redisAddr string, interval time.Duration, pageSize, watchMsgs int, delay time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	keys := keyring(secret)
	var store presence.Store = presence.NewMemory()
	if redisAddr != "" {
		store = presence.NewRedis(redis.NewClient(&redis.Options{Addr: redisAddr, PoolSize: 64}), "hallload:")
	}
	shards := map[string]*simShard{}
	var list []*simShard
	var infos []hall.ShardInfo
	for i := 0; i*perShard < rooms; i++ {
		name := fmt.Sprintf("%s-%d", region, i)
		s := newSimShard(name, i*perShard+1, min(perShard, rooms-i*perShard), capacity)
		if fill > 0 {
			for j := range s.players {
				s.players[j] = int(fill * float64(capacity))
			}
		}
		shards["sim://"+name] = s
		list = append(list, s)
		infos = append(infos, hall.ShardInfo{Name: name, Region: region, Game: "doudizhu", Address: "127.0.0.1", Port: 7000 + i,
			InternalURL: "sim://" + name, FirstRoom: s.first, Rooms: s.n, RoomCapacity: capacity, Ready: true})
	}
	src := hall.NewStaticSource()
	src.Set([]hall.RegionInfo{{Name: region, Game: "doudizhu", DisplayName: "Benchmark"}}, infos)
	reg := prometheus.NewRegistry()
	hs, err := hall.New(hall.Config{Name: "bench", DeltaInterval: interval, PageSize: pageSize, MaxWatchMessages: watchMsgs}, hall.Deps{Keys: keys, Presence: store, Source: src, Dial: simDialer(shards), Log: log, Metrics: reg})
	if err != nil {
		return err
	}
	// One loader address makes every guest login: no per-address budget.
	ls, err := login.New(login.Config{Guest: true, GuestBurst: 1 << 30}, login.Deps{Keys: keys, Presence: store, Log: log})
	if err != nil {
		return err
	}
	sc := schedule{T0: time.Now().Add(delay).UnixNano(), Rooms: rooms, Capacity: capacity}
	if changes > 0 {
		sc.Period = int64(time.Second) * int64(rooms) / int64(changes)
		for _, s := range list {
			go sc.run(ctx, s)
		}
	}
	if leaves > 0 {
		go func() {
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				for range leaves / 100 {
					list[rand.IntN(len(list))].leaveRandom()
				}
			}
		}()
	}
	mux := http.NewServeMux()
	ls.Register(mux)
	hs.Register(mux)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/schedule", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(sc) })
	mux.HandleFunc("/debug/mem", func(w http.ResponseWriter, r *http.Request) {
		cpu := cpuSeconds() // before the collection below
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		json.NewEncoder(w).Encode(memStats{HeapInuse: m.HeapInuse, StackInuse: m.StackInuse, Sys: m.Sys, Goroutines: runtime.NumGoroutine(), CPU: cpu})
	})
	mux.HandleFunc("/debug/enter", func(w http.ResponseWriter, r *http.Request) {
		room, _ := strconv.Atoi(r.URL.Query().Get("room"))
		for _, s := range list {
			if room >= s.first && room < s.first+s.n {
				if s.enter(room) {
					w.WriteHeader(http.StatusOK)
				} else {
					w.WriteHeader(http.StatusConflict) // ROOM_FULL
				}
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Printf("http://%s\n", ln.Addr())
	go http.Serve(ln, mux)
	return hs.Run(ctx)
}

type memStats struct {
	HeapInuse, StackInuse, Sys uint64
	Goroutines                 int
	CPU                        float64 // the serving process's user+system seconds
}

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[min(len(d)-1, int(p*float64(len(d))))]
}

func playerTicket(keys *ticket.Keyring, i int) string {
	t, _ := keys.Sign(ticket.Player(fmt.Sprintf("w%d", i), "s"), time.Hour)
	return t
}

func loadLogin(url string, conc int, dur time.Duration, accounts int) error {
	tr := &http.Transport{MaxIdleConnsPerHost: conc}
	c := &http.Client{Transport: tr}
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	codes := map[int]int{}
	var sessions sync.Map // name → session of its last login
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			var mine []time.Duration
			mc := map[int]int{}
			for time.Now().Before(end) {
				// A guest logs in again under its name by naming its session.
				name := fmt.Sprintf("g%d", rand.IntN(accounts))
				last, _ := sessions.Load(name)
				prev, _ := last.(string)
				body, _ := json.Marshal(login.Request{Account: name, Session: prev})
				t0 := time.Now()
				resp, err := c.Post(url+"/v1/login", "application/json", stringsReader(string(body)))
				if err != nil {
					errs.Add(1)
					continue
				}
				var lr login.Response
				if json.NewDecoder(resp.Body).Decode(&lr) == nil && lr.Session != "" {
					sessions.Store(name, lr.Session)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				mc[resp.StatusCode]++
			}
			mu.Lock()
			lat = append(lat, mine...)
			for k, v := range mc {
				codes[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	fmt.Printf("logins: %d in %v = %.0f/s; status %v; transport errors %d; p50 %v p99 %v max %v\n",
		len(lat), dur, float64(len(lat))/dur.Seconds(), codes, errs.Load(),
		percentile(lat, 0.5), percentile(lat, 0.99), percentile(lat, 1))
	return nil
}

func loadSnapshot(url, secret string, conc int, dur time.Duration) error {
	tok := playerTicket(keyring(secret), 0)
	// The client asks for gzip itself and does not inflate: this measures
	// what the hall serves, not the load generator's gunzip.
	c := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: conc}}
	var mu sync.Mutex
	var lat []time.Duration
	var size, raw int64
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	get := func(gzip bool) (int64, time.Duration, error) {
		req, _ := http.NewRequest("GET", url+"/v1/regions/"+region+"/rooms", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if gzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		t0 := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return 0, 0, err
		}
		nb, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, 0, fmt.Errorf("status %d", resp.StatusCode)
		}
		return nb, time.Since(t0), err
	}
	var err error
	if raw, _, err = get(false); err != nil {
		return err
	}
	for range conc {
		wg.Go(func() {
			var mine []time.Duration
			var last int64
			for time.Now().Before(end) {
				nb, d, err := get(true)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					return
				}
				mine = append(mine, d)
				last = nb
			}
			mu.Lock()
			lat = append(lat, mine...)
			size = last
			mu.Unlock()
		})
	}
	wg.Wait()
	fmt.Printf("snapshots: %d in %v = %.0f/s; %d B gzipped (%d B JSON); p50 %v p99 %v\n",
		len(lat), dur, float64(len(lat))/dur.Seconds(), size, raw, percentile(lat, 0.5).Round(time.Microsecond), percentile(lat, 0.99).Round(time.Microsecond))
	return nil
}

// loadStale: players pick a room from a watched view (of -choices random
// rooms with a free seat, the one with the most free seats) and enter it
// on the shard, which checks capacity atomically.
func loadStale(url, secret string, watchers, joins, choices int, dur time.Duration) error {
	keys := keyring(secret)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wsURL := "ws" + url[len("http"):] + "/v1/regions/" + region + "/watch"
	type view struct {
		mu    sync.RWMutex
		rooms map[int]hall.Room
		list  []int
	}
	views := make([]*view, watchers)
	for i := range views {
		v := &view{rooms: map[int]hall.Room{}}
		views[i] = v
		c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + playerTicket(keys, i)}}})
		if err != nil {
			return err
		}
		c.SetReadLimit(64 << 20)
		go func() {
			var ver uint64
			for {
				_, b, err := c.Read(ctx)
				if err != nil {
					return
				}
				var m hall.WatchMessage
				if json.Unmarshal(b, &m) != nil {
					continue
				}
				v.mu.Lock()
				m.Apply(v.rooms, ver)
				ver = m.Version
				if m.Type == "snapshot" {
					v.list = v.list[:0]
					for n := range v.rooms {
						v.list = append(v.list, n)
					}
				}
				v.mu.Unlock()
			}
		}()
	}
	time.Sleep(2 * time.Second)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var ok, full, none atomic.Int64
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	const workers = 32
	perWorker := time.Duration(float64(time.Second) * workers / float64(joins))
	for range workers {
		wg.Go(func() {
			next := time.Now()
			for time.Now().Before(end) {
				next = next.Add(perWorker)
				time.Sleep(time.Until(next))
				v := views[rand.IntN(len(views))]
				v.mu.RLock()
				best, bestFree := 0, 0
				for tries := 0; tries < 50 && len(v.list) > 0; tries++ {
					r := v.rooms[v.list[rand.IntN(len(v.list))]]
					if free := r.Capacity - r.Players; free > bestFree {
						best, bestFree = r.Room, free
					}
					if best != 0 && tries+1 >= choices {
						break
					}
				}
				v.mu.RUnlock()
				if best == 0 {
					none.Add(1)
					continue
				}
				resp, err := c.Post(url+"/debug/enter?room="+strconv.Itoa(best), "", nil)
				if err != nil {
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				} else {
					full.Add(1)
				}
			}
		})
	}
	wg.Wait()
	var reg struct{ Regions []hall.RegionSummary }
	req, _ := http.NewRequest("GET", url+"/v1/regions", nil)
	req.Header.Set("Authorization", "Bearer "+playerTicket(keys, 0))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		json.NewDecoder(resp.Body).Decode(&reg)
		resp.Body.Close()
	}
	occ := 0.0
	if len(reg.Regions) == 1 && reg.Regions[0].Capacity > 0 {
		occ = float64(reg.Regions[0].Players) / float64(reg.Regions[0].Capacity)
	}
	total := ok.Load() + full.Load()
	fmt.Printf("entries: %d (%.0f/s); ROOM_FULL %d = %.3f%%; no free room in view %d; region occupancy at end %.1f%%\n",
		total, float64(total)/dur.Seconds(), full.Load(), 100*float64(full.Load())/float64(max(total, 1)), none.Load(), 100*occ)
	return nil
}

type histogram struct {
	bounds []float64
	counts []uint64 // cumulative
}

// lagHistogram reads gamehall_hall_directory_lag_seconds from the serve
// process's /metrics.
func lagHistogram(url string) *histogram {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil
	}
	mf := mfs["gamehall_hall_directory_lag_seconds"]
	if mf == nil || len(mf.Metric) == 0 {
		return nil
	}
	var h histogram
	var hist *dto.Histogram = mf.Metric[0].GetHistogram()
	for _, b := range hist.Bucket {
		h.bounds = append(h.bounds, b.GetUpperBound())
		h.counts = append(h.counts, b.GetCumulativeCount())
	}
	h.bounds = append(h.bounds, math.Inf(1))
	h.counts = append(h.counts, hist.GetSampleCount())
	return &h
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *histogram) quantile(q float64) time.Duration {
	total := h.counts[len(h.counts)-1]
	for i, c := range h.counts {
		if float64(c) >= q*float64(total) {
			if math.IsInf(h.bounds[i], 1) {
				return -1
			}
			return time.Duration(h.bounds[i] * float64(time.Second))
		}
	}
	return -1
}
