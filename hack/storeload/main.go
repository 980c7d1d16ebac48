// Command storeload measures the players' data tier on a real PostgreSQL:
//
//	storeload settle       settlements per second and their latency, as
//	                       shards send them (one transaction per game)
//	storeload leaderboard  GET /v1/regions/{r}/leaderboard and GET /v1/me
//	                       (--me of them) requests per second and their
//	                       latency, over a region of --rows players
//	                       (1,000,000 by default)
//
// Without --database-url it starts its own PostgreSQL (store/pgtest, fsync
// on) in a temporary directory. Runs are bounded by --duration.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"

	"github.com/gamehall/gamehall/bot"
	"github.com/gamehall/gamehall/profiles"
	"github.com/gamehall/gamehall/store"
	"github.com/gamehall/gamehall/store/pgtest"
	"github.com/gamehall/gamehall/ticket"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "settle" && os.Args[1] != "leaderboard") {
		fmt.Fprintln(os.Stderr, "usage: storeload settle|leaderboard [flags]  (-h for the flags)")
		os.Exit(2)
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	dsn := fs.String("database-url", "", "PostgreSQL to use (default: start one with fsync on)")
	duration := fs.Duration("duration", 20*time.Second, "how long to measure")
	workers := fs.Int("workers", 16, "settle: concurrent settlements (a shard runs 4); leaderboard: concurrent clients")
	rate := fs.Float64("rate", 0, "settle: settlements per second, open loop (0: as fast as the workers go)")
	players := fs.Int("players", 100000, "settle: accounts the games draw from")
	rows := fs.Int("rows", 1000000, "leaderboard: players in the region")
	me := fs.Float64("me", 0.5, "leaderboard: the share of requests that are GET /v1/me (the caller's balance and stats)")
	fs.Parse(os.Args[2:])

	ctx := context.Background()
	if *dsn == "" {
		srv, err := pgtest.Launch(pgtest.Options{Durable: true, Log: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }})
		if err != nil {
			fail(err)
		}
		defer srv.Close()
		if *dsn, err = srv.CreateDatabase(ctx); err != nil {
			fail(err)
		}
	}
	st, err := store.Open(ctx, *dsn, store.Options{Migrate: true, MaxConns: *workers + 4})
	if err != nil {
		fail(err)
	}
	defer st.Close()
	if mode == "settle" {
		settle(ctx, st, *workers, *rate, *players, *duration)
	} else {
		leaderboard(ctx, st, *dsn, *rows, *workers, *me, *duration)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "storeload:", err)
	os.Exit(1)
}

// cpu is the process's user+system CPU time so far.
func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// game is a Dou Dizhu result among three random accounts.
func game(rng *rand.Rand, region string, players int) store.Settlement {
	var acc [3]string
	for i := range acc {
		for {
			acc[i] = "p" + strconv.Itoa(rng.IntN(players))
			if i == 0 || (acc[i] != acc[0] && (i < 2 || acc[i] != acc[1])) {
				break
			}
		}
	}
	m := int64(1 << rng.IntN(4))
	if rng.IntN(2) == 0 {
		m = -m
	}
	return store.Settlement{GameID: store.NewGameID(region, time.Now()), Region: region, EndedAt: time.Now(),
		Record: make([]byte, 650), // a typical record's size
		Seats: []store.Seat{{Account: acc[0], Role: store.RoleLandlord, Delta: 2 * m},
			{Account: acc[1], Role: store.RoleFarmer, Delta: -m}, {Account: acc[2], Role: store.RoleFarmer, Delta: -m}}}
}

func settle(ctx context.Context, st store.Store, workers int, rate float64, players int, d time.Duration) {
	var h bot.Histogram
	var n, errs atomic.Int64
	deadline := time.Now().Add(d)
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		tick = t.C
	}
	work := make(chan struct{}, workers)
	cpu0, t0 := cpu(), time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for time.Now().Before(deadline) {
				if tick != nil {
					if _, ok := <-work; !ok {
						return
					}
				}
				start := time.Now()
				if _, err := st.Settle(ctx, game(rng, "south", players)); err != nil {
					errs.Add(1)
					continue
				}
				h.Record(time.Since(start))
				n.Add(1)
			}
		})
	}
	if tick != nil {
		for time.Now().Before(deadline) {
			<-tick
			select {
			case work <- struct{}{}:
			default: // the workers are behind: the open loop counts it as latency
			}
		}
		close(work)
	}
	wg.Wait()
	el := time.Since(t0)
	fmt.Printf("settle: %d settlements in %s = %.0f/s with %d workers (rate %s), %d errors; latency p50 %s p90 %s p99 %s p99.9 %s max %s; client CPU %s\n",
		n.Load(), el.Round(time.Millisecond), float64(n.Load())/el.Seconds(), workers, rateText(rate), errs.Load(),
		h.Quantile(.5), h.Quantile(.9), h.Quantile(.99), h.Quantile(.999), h.Max(), (cpu() - cpu0).Round(time.Millisecond))
	r, err := st.Check(ctx, "south")
	fmt.Printf("check: %v (%v)\n", r, err)
}

func rateText(r float64) string {
	if r == 0 {
		return "closed loop"
	}
	return fmt.Sprintf("%.0f/s", r)
}

// seed writes rows players into region "south" with scores spread like a
// busy region's (a bell around 0), by COPY.
func seed(ctx context.Context, dsn string, rows int) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		fail(err)
	}
	defer conn.Close(ctx)
	var have int
	conn.QueryRow(ctx, `SELECT count(*) FROM players WHERE region = 'south'`).Scan(&have)
	if have >= rows {
		return
	}
	t0 := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if have >= rows {
			return nil, nil
		}
		score := int64(rng.NormFloat64() * 200)
		games := int64(1 + rng.IntN(500))
		row := []any{"south", "p" + strconv.Itoa(have), int64(store.StartingCoins) + score, score, games, games / 2, games / 3, games / 6, games - games/3, games/2 - games/6, now}
		have++
		return row, nil
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"players"},
		[]string{"region", "account", "coins", "score", "games", "wins", "landlord_games", "landlord_wins", "farmer_games", "farmer_wins", "updated_at"}, src); err != nil {
		fail(err)
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE players"); err != nil {
		fail(err)
	}
	fmt.Printf("seeded %d players in %s\n", rows, time.Since(t0).Round(time.Millisecond))
}

func leaderboard(ctx context.Context, st store.Store, dsn string, rows, clients int, meShare float64, d time.Duration) {
	seed(ctx, dsn, rows)
	keys, err := ticket.NewRandomKeyring("k")
	if err != nil {
		fail(err)
	}
	ps, err := profiles.New(profiles.Config{}, profiles.Deps{Keys: keys, Log: logr.Discard(), Regions: func() []string { return []string{"south"} },
		DB: profiles.DatabasesFunc(func(context.Context, string) (store.Regions, error) { return st, nil })})
	if err != nil {
		fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	go http.Serve(ln, ps.Handler())
	base := "http://" + ln.Addr().String()
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(account, path string) (time.Duration, error) {
		tok, _ := keys.Sign(ticket.Player(account, "s"), time.Hour)
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
			return 0, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
		}
		io.Copy(io.Discard, resp.Body)
		return time.Since(start), nil
	}
	t0 := time.Now()
	if _, err := get("p1", "/v1/regions/south/leaderboard"); err != nil { // loads the ranks
		fail(err)
	}
	fmt.Printf("first request (reads the top %d and the score distribution of %d players): %s\n", 1000, rows, time.Since(t0).Round(time.Millisecond))

	var h, hBoard, hMe bot.Histogram
	var n, errs atomic.Int64
	var errMu sync.Mutex
	errKinds := map[string]int{}
	deadline := time.Now().Add(d)
	cpu0, t1 := cpu(), time.Now()
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for time.Now().Before(deadline) {
				// Most look at the first pages; every caller has a row, so
				// each request also reads its own rank.
				path := "/v1/regions/south/leaderboard?limit=20&offset=" + strconv.Itoa(20*rng.IntN(10))
				if rng.IntN(10) == 0 {
					path = "/v1/regions/south/leaderboard?limit=20&offset=" + strconv.Itoa(20*rng.IntN(499))
				}
				which := &hBoard
				if rng.Float64() < meShare {
					path, which = "/v1/me", &hMe
				}
				took, err := get("p"+strconv.Itoa(rng.IntN(rows)), path)
				if err != nil {
					errs.Add(1)
					errMu.Lock()
					errKinds[err.Error()]++
					errMu.Unlock()
					continue
				}
				h.Record(took)
				which.Record(took)
				n.Add(1)
			}
		})
	}
	wg.Wait()
	el := time.Since(t1)
	fmt.Printf("leaderboard: %d requests in %s = %.0f/s with %d clients, %d errors; latency p50 %s p90 %s p99 %s p99.9 %s max %s; process CPU %s (server and clients, GOMAXPROCS %d)\n",
		n.Load(), el.Round(time.Millisecond), float64(n.Load())/el.Seconds(), clients, errs.Load(),
		h.Quantile(.5), h.Quantile(.9), h.Quantile(.99), h.Quantile(.999), h.Max(), (cpu() - cpu0).Round(time.Millisecond), runtime.GOMAXPROCS(0))
	for kind, k := range errKinds {
		fmt.Printf("  error %q: %d\n", kind, k)
	}
	for _, q := range []struct {
		name string
		h    *bot.Histogram
	}{{"  GET leaderboard", &hBoard}, {"  GET /v1/me", &hMe}} {
		fmt.Printf("%s: %d, p50 %s p99 %s max %s\n", q.name, q.h.Count(), q.h.Quantile(.5), q.h.Quantile(.99), q.h.Max())
	}
}
