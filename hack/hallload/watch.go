package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/gamehall/gamehall/hall"
)

type watchOptions struct {
	url              string
	watchers, sample int
	dur              time.Duration
	page             string
	first            int
	out              string
}

// watchResult is what one watch process measured; `hallload merge` adds
// up several.
type watchResult struct {
	Connected, Failed int64
	Ramp              float64 // seconds to connect
	Window            float64 // seconds measured
	Msgs, Bytes       int64   // received in the window
	Latency           []int64 // change→watcher histogram, see latencyBucket
	SelfCPU           float64 // this process's CPU seconds in the window
	HallStart         memStats
	HallEnd           memStats
}

// Latency histogram: bucket i holds durations up to 1.02^(i+1) µs.
const latencyBuckets = 1200

func latencyBucket(d time.Duration) int {
	us := max(float64(d.Microseconds()), 1)
	return min(int(math.Log(us)/math.Log(1.02)), latencyBuckets-1)
}

func latencyQuantile(h []int64, q float64) time.Duration {
	var n int64
	for _, c := range h {
		n += c
	}
	want, acc := min(int64(q*float64(n)), n-1), int64(0)
	for i, c := range h {
		if acc += c; acc > want {
			return time.Duration(math.Pow(1.02, float64(i+1))) * time.Microsecond
		}
	}
	return 0
}

// loadWatch connects o.watchers watch streams, waits for the scheduled
// changes to run, and measures o.dur of them.
func loadWatch(secret string, o watchOptions) error {
	keys := keyring(secret)
	var sc schedule
	if err := getJSON(o.url+"/debug/schedule", &sc); err != nil {
		return err
	}
	var before memStats
	if err := getJSON(o.url+"/debug/mem", &before); err != nil {
		return err
	}
	pages, err := regionPages(o.url, playerTicket(keys, o.first))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var msgs, bytes atomic.Int64
	var mu sync.Mutex
	hist := make([]int64, latencyBuckets)
	var measuring atomic.Bool
	wsURL := "ws" + o.url[len("http"):] + "/v1/regions/" + region + "/watch"
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var connected, failed atomic.Int64
	start := time.Now()
	for i := range o.watchers {
		q := ""
		switch o.page {
		case "all":
		case "spread":
			q = "?page=" + strconv.Itoa((o.first+i)%max(pages, 1)+1)
		default:
			q = "?page=" + o.page
		}
		sem <- struct{}{}
		wg.Go(func() {
			dctx, dcancel := context.WithTimeout(ctx, 60*time.Second)
			c, _, err := websocket.Dial(dctx, wsURL+q, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + playerTicket(keys, o.first+i)}}})
			dcancel()
			<-sem
			if err != nil {
				if failed.Add(1) <= 3 {
					fmt.Fprintln(os.Stderr, "dial:", err)
				}
				return
			}
			c.SetReadLimit(64 << 20)
			connected.Add(1)
			go watchOne(ctx, c, i < o.sample, sc, &measuring, &msgs, &bytes, &mu, hist)
		})
	}
	wg.Wait()
	ramp := time.Since(start)
	time.Sleep(2 * time.Second) // let the first snapshots drain
	if wait := time.Until(time.Unix(0, sc.T0).Add(3 * time.Second)); wait > 0 {
		fmt.Printf("connected; waiting %v for the scheduled changes to start\n", wait.Round(time.Second))
		time.Sleep(wait)
	}
	var res watchResult
	if err := getJSON(o.url+"/debug/mem", &res.HallStart); err != nil {
		return err
	}
	m0, b0 := msgs.Load(), bytes.Load()
	self0 := cpuSeconds()
	measuring.Store(true)
	time.Sleep(o.dur)
	measuring.Store(false)
	m1, b1 := msgs.Load(), bytes.Load()
	res.SelfCPU = cpuSeconds() - self0
	if err := getJSON(o.url+"/debug/mem", &res.HallEnd); err != nil {
		return err
	}
	lag := lagHistogram(o.url)
	cancel()
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	res.Latency = append([]int64(nil), hist...)
	mu.Unlock()
	res.Connected, res.Failed, res.Ramp, res.Window = connected.Load(), failed.Load(), ramp.Seconds(), o.dur.Seconds()
	res.Msgs, res.Bytes = m1-m0, b1-b0
	if o.out != "" {
		b, _ := json.Marshal(res)
		if err := os.WriteFile(o.out, b, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("watchers: %d connected (%d failed) in %v, page %s\n", res.Connected, res.Failed, ramp.Round(time.Millisecond), o.page)
	res.print()
	if lag != nil {
		fmt.Printf("hall-side lag (hall receives the change → written to the socket), whole run: p50 ≤ %v, p99 ≤ %v\n", lag.quantile(0.5), lag.quantile(0.99))
	}
	if res.Connected > 0 && o.out == "" {
		printPerWatcher(before, res.HallStart, res.Connected)
	}
	return nil
}

// watchOne reads one stream until ctx ends; a sampled watcher decodes every
// message and times each count it carries against the schedule.
func watchOne(ctx context.Context, c *websocket.Conn, decode bool, sc schedule, measuring *atomic.Bool, msgs, bytes *atomic.Int64, mu *sync.Mutex, hist []int64) {
	defer c.CloseNow()
	mine := make([]int64, latencyBuckets)
	defer func() {
		mu.Lock()
		for i, n := range mine {
			hist[i] += n
		}
		mu.Unlock()
	}()
	for {
		_, r, err := c.Reader(ctx)
		if err != nil {
			return
		}
		if !decode {
			nb, _ := io.Copy(io.Discard, r)
			msgs.Add(1)
			bytes.Add(nb)
			continue
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		msgs.Add(1)
		bytes.Add(int64(len(b)))
		var m hall.WatchMessage
		if json.Unmarshal(b, &m) != nil || m.Type != "delta" || !measuring.Load() {
			continue
		}
		for _, cnt := range m.Counts {
			if at, ok := sc.madeAt(cnt[0], cnt[1], now); ok {
				mine[latencyBucket(time.Duration(now-at))]++
			}
		}
	}
}

func (res watchResult) print() {
	fmt.Printf("messages: %.0f/s, %.1f MB/s to all watchers\n", float64(res.Msgs)/res.Window, float64(res.Bytes)/res.Window/1e6)
	hallCPU := res.HallEnd.CPU - res.HallStart.CPU
	if res.Msgs > 0 {
		fmt.Printf("hall CPU: %.2f cores in the window, %.2f µs per message delivered; load generator %.2f cores\n",
			hallCPU/res.Window, hallCPU*1e6/float64(res.Msgs), res.SelfCPU/res.Window)
	}
	var n int64
	for _, c := range res.Latency {
		n += c
	}
	fmt.Printf("change→watcher latency over %d sampled room changes: p50 %v p99 %v max %v\n", n,
		latencyQuantile(res.Latency, 0.5).Round(time.Millisecond), latencyQuantile(res.Latency, 0.99).Round(time.Millisecond),
		latencyQuantile(res.Latency, 1).Round(time.Millisecond))
}

func printPerWatcher(before, after memStats, n int64) {
	heap := (int64(after.HeapInuse) - int64(before.HeapInuse)) / n
	stack := (int64(after.StackInuse) - int64(before.StackInuse)) / n
	fmt.Printf("hall memory per watcher: heap %d B + stacks %d B = %.1f KiB; goroutines %d → %d\n",
		heap, stack, float64(heap+stack)/1024, before.Goroutines, after.Goroutines)
}

// mergeWatch adds up the results of several watch processes that measured
// the same window.
func mergeWatch(baseFile string, files []string) error {
	var all watchResult
	all.Latency = make([]int64, latencyBuckets)
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r watchResult
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		all.Connected += r.Connected
		all.Failed += r.Failed
		all.Msgs += r.Msgs
		all.Bytes += r.Bytes
		all.SelfCPU += r.SelfCPU
		all.Ramp = max(all.Ramp, r.Ramp)
		for j, c := range r.Latency {
			all.Latency[j] += c
		}
		if i == 0 {
			all.Window, all.HallStart, all.HallEnd = r.Window, r.HallStart, r.HallEnd
		}
	}
	fmt.Printf("watchers: %d connected (%d failed) over %d processes\n", all.Connected, all.Failed, len(files))
	all.print()
	if baseFile != "" && all.Connected > 0 {
		b, err := os.ReadFile(baseFile)
		if err != nil {
			return err
		}
		var base memStats
		if err := json.Unmarshal(b, &base); err != nil {
			return err
		}
		printPerWatcher(base, all.HallStart, all.Connected)
	}
	return nil
}

// printMem prints the serving process's memory (for `merge -base`).
func printMem(url string) error {
	var m memStats
	if err := getJSON(url+"/debug/mem", &m); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(m)
}

// regionPages asks the hall how many pages the benchmark region has.
func regionPages(url, tok string) (int, error) {
	req, _ := http.NewRequest("GET", url+"/v1/regions", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct{ Regions []hall.RegionSummary }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	for _, r := range out.Regions {
		if r.Name == region {
			return r.Pages, nil
		}
	}
	return 0, fmt.Errorf("no region %q", region)
}
