package local_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	v1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/bot"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/local"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/presence/redistest"
)

func testLog(t *testing.T) logr.Logger {
	if os.Getenv("GAMEHALL_TEST_LOG") != "" {
		return logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, nil))
	}
	return logr.Discard()
}

// A small Region, so a few hundred bots fill several shards: 60 players per
// shard, new shards past 50 %, scale-down after one second.
const smallRegion = `# the e2e test's Region
apiVersion: gamehall.dev/v1alpha1
kind: Region
metadata:
  name: e2e
spec:
  game: doudizhu
  displayName: "End to end"
  roomsPerShard: 2
  roomCapacity: 30
  tablesPerRoom: 10
  minShards: 1
  maxShards: 6
  scaling:
    targetOccupancyPercent: 50
    scaleDownDelay: 1s
`

func loadRegions(t *testing.T, yaml string) []v1.Region {
	t.Helper()
	f := filepath.Join(t.TempDir(), "region.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, _, err := local.LoadRegions([]string{f})
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Region
	for _, r := range loaded {
		out = append(out, r.Region)
	}
	return out
}

// eventually polls cond every 50ms until it holds or the deadline passes;
// generous deadlines keep it robust on a loaded machine.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s; last state: %s", within, what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEndToEnd runs local mode in-process with real sockets and a few hundred
// bots, and checks what the platform promises: games finish and score
// zero-sum, no room ever holds more than its capacity, the Region scales out
// when filled and back to its minimum when the bots leave, and shutdown
// leaves no goroutine behind.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: a few hundred players for ~15s")
	}
	endToEnd(t, nil, 300, 12*time.Second)
}

// The same with presence in a real Redis (gamehall local --redis).
func TestEndToEndRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: a few hundred players for ~10s")
	}
	rs := redistest.Start(t)
	store := presence.NewRedis(rs.Client(t), "e2e:")
	endToEnd(t, store, 200, 8*time.Second)
}

func endToEnd(t *testing.T, store presence.Store, players int, d time.Duration) {
	baseline := runtime.NumGoroutine()
	regions := loadRegions(t, smallRegion)
	l, err := local.New(local.Config{
		Regions: regions, Listen: "127.0.0.1:0", ScaleEvery: 200 * time.Millisecond, ShutdownGrace: 5 * time.Second,
		Presence: store, Log: testLog(t),
		Shard: func(c *gameserver.Config) {
			// Bots think in milliseconds; people's rate limits would refuse them.
			c.MsgRate, c.MsgBurst, c.ChatRate, c.ChatBurst = 10000, 10000, 1000, 1000
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- l.Run(ctx) }()

	// Watch every room of every shard while the bots play.
	var (
		watchMu    sync.Mutex
		violations []string
		maxServing int
	)
	stopWatch := make(chan struct{})
	var watchWG sync.WaitGroup
	watchWG.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopWatch:
				return
			case <-t.C:
			}
			stats := l.ShardStats()
			st := l.Status()[0]
			watchMu.Lock()
			maxServing = max(maxServing, st.Shards-st.DrainingShards)
			for _, s := range stats {
				for _, r := range s.Rooms {
					if r.Players > r.Capacity && len(violations) < 10 {
						violations = append(violations, fmt.Sprintf("%s room %d: %d players, capacity %d", s.Shard, r.Room, r.Players, r.Capacity))
					}
				}
			}
			watchMu.Unlock()
		}
	})

	runner, err := bot.New(bot.Config{
		HallURL: l.HallURL(), Players: players, Duration: d, Ramp: 100,
		Think: 20 * time.Millisecond, MinGames: 1, MaxGames: 3, Break: 300 * time.Millisecond,
		ChatChance: 0.2, LeaveGrace: 30 * time.Second, Seed: 42, Log: testLog(t),
		DropEvery: time.Second, // flaky networks: players drop mid-game and resume
	})
	if err != nil {
		t.Fatal(err)
	}
	stats, err := runner.Run(ctx)
	t.Logf("\n%s", stats.Summary())
	if err != nil {
		t.Errorf("bot run: %v", err)
	}
	if stats.Games.Load() == 0 {
		t.Errorf("no game finished")
	}
	if n := stats.NonZeroSum.Load(); n > 0 || stats.ZeroSum.Load() != stats.Games.Load() {
		t.Errorf("%d of %d games did not score zero-sum (checked %d)", n, stats.Games.Load(), stats.ZeroSum.Load())
	}
	if stats.Entries.Load() < int64(players) {
		t.Errorf("%d room entries for %d players", stats.Entries.Load(), players)
	}
	if stats.Online.Load() != 0 || stats.Seated.Load() != 0 {
		t.Errorf("after the run %d players online, %d seated", stats.Online.Load(), stats.Seated.Load())
	}
	// No player was cut by the scale-downs (or lost a connection it did
	// not drop itself), and every player who dropped mid-game got its seat
	// back.
	if n := stats.Cut.Load() + stats.Dropped.Load() + stats.Kicked.Load(); n != 0 {
		t.Errorf("%d players cut by a shard going away, %d connections lost, %d kicked", stats.Cut.Load(), stats.Dropped.Load(), stats.Kicked.Load())
	}
	if stats.DropsOnPurpose.Load() == 0 || stats.ResumeFailures.Load() != 0 || stats.Resumes.Load() != stats.DropsOnPurpose.Load() {
		t.Errorf("%d drops mid-game, %d seats resumed, %d not", stats.DropsOnPurpose.Load(), stats.Resumes.Load(), stats.ResumeFailures.Load())
	}

	// Everyone left: the Region drains back to its minimum.
	min := int(regions[0].Spec.MinShards)
	eventually(t, 60*time.Second, fmt.Sprintf("the Region should drain back to %d shard", min), func() (bool, string) {
		st := l.Status()[0]
		return st.Shards == min && st.DrainingShards == 0 && st.Players == 0, fmt.Sprintf("%+v", st)
	})
	close(stopWatch)
	watchWG.Wait()
	st := l.Status()[0]
	t.Logf("shards: peak %d serving, %d created, %d deleted", st.PeakShards, st.Created, st.Deleted)
	if maxServing <= min || st.PeakShards <= min {
		t.Errorf("the Region never scaled beyond its minimum of %d shards (peak %d)", min, max(maxServing, st.PeakShards))
	}
	if st.Deleted == 0 {
		t.Errorf("no shard was deleted after the bots left")
	}
	if len(violations) > 0 {
		t.Errorf("rooms over capacity:\n%s", strings.Join(violations, "\n"))
	}

	cancel()
	select {
	case err := <-runDone:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30s after its context ended")
	}
	eventually(t, 20*time.Second, "goroutines should return to the baseline after shutdown", func() (bool, string) {
		n := runtime.NumGoroutine()
		if n <= baseline {
			return true, ""
		}
		buf := make([]byte, 1<<20)
		return false, fmt.Sprintf("%d goroutines, baseline %d:\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
	})
}

// A hall address already in use is refused at Start with the address in
// the message, and nothing is left running.
func TestStartPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	baseline := runtime.NumGoroutine()
	l, err := local.New(local.Config{Regions: loadRegions(t, smallRegion), Listen: busy.Addr().String(), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	err = l.Start(context.Background())
	if err == nil {
		t.Fatal("Start succeeded on a busy address")
	}
	for _, want := range []string{busy.Addr().String(), "address already in use", "--listen"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	eventually(t, 10*time.Second, "no goroutine should be left", func() (bool, string) {
		n := runtime.NumGoroutine()
		return n <= baseline, fmt.Sprintf("%d goroutines, baseline %d", n, baseline)
	})
}

// Scaling in local mode follows the shared policy step by step: the minimum
// shards at Start, more when the policy says so.
func TestStartRunsMinimumShards(t *testing.T) {
	regions := loadRegions(t, strings.Replace(smallRegion, "minShards: 1", "minShards: 3", 1))
	l, stop := startLocal(t, local.Config{Regions: regions, Listen: "127.0.0.1:0", Log: testLog(t)})
	st := l.Status()[0]
	if st.Shards != 3 || st.Capacity != 3*60 {
		t.Errorf("status after Start: %+v; want 3 shards of 60", st)
	}
	var rooms []int
	for _, s := range l.ShardStats() {
		for _, r := range s.Rooms {
			rooms = append(rooms, r.Room)
		}
	}
	if len(rooms) != 6 {
		t.Errorf("rooms %v; want 6 (3 shards × 2)", rooms)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// Metrics and profiles are on the internal address, not the players'.
func TestMetricsOnTheInternalAddress(t *testing.T) {
	l, _ := startLocal(t, local.Config{Regions: loadRegions(t, smallRegion), Listen: "127.0.0.1:0", Log: testLog(t)})
	status := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if s := status(l.HallURL() + path); s != http.StatusNotFound {
			t.Errorf("players' address %s: %d, want 404", path, s)
		}
		if s := status(l.InternalURL() + path); s != http.StatusOK {
			t.Errorf("internal address %s: %d", path, s)
		}
	}
}

// startLocal makes, starts and runs local mode with cfg; stop cancels it
// and returns what Run returned (a test's cleanup stops it at the latest).
func startLocal(t *testing.T, cfg local.Config) (l *local.Local, stop func() error) {
	t.Helper()
	l, err := local.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := l.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { stop() })
	return l, stop
}
