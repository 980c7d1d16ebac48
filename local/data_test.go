package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gamehall/gamehall/bot"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/local"
	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/profiles"
	"github.com/gamehall/gamehall/store"
)

// Two small Regions: South keeps its players' data in the login's database,
// North in one of its own — the two layouts of the samples.
const twoRegions = `apiVersion: gamehall.dev/v1alpha1
kind: Region
metadata:
  name: south
spec:
  game: doudizhu
  roomsPerShard: 2
  roomCapacity: 30
  tablesPerRoom: 10
  minShards: 1
  maxShards: 2
  database:
    secretName: db-main
---
apiVersion: gamehall.dev/v1alpha1
kind: Region
metadata:
  name: north
spec:
  game: doudizhu
  roomsPerShard: 2
  roomCapacity: 30
  tablesPerRoom: 10
  minShards: 1
  maxShards: 2
  database:
    secretName: db-north
`

// startData runs local mode on dir until the returned stop is called.
func startData(t *testing.T, dir string) (*local.Local, func()) {
	t.Helper()
	l, stop := startLocal(t, local.Config{
		Regions: loadRegions(t, twoRegions), Listen: "127.0.0.1:0", ScaleEvery: 200 * time.Millisecond, ShutdownGrace: 5 * time.Second,
		DataDir: dir, AccountsDatabase: "db-main", Log: testLog(t),
		Shard: func(c *gameserver.Config) { c.MsgRate, c.MsgBurst, c.ChatRate, c.ChatBurst = 10000, 10000, 1000, 1000 },
	})
	return l, func() {
		if err := stop(); err != nil {
			t.Errorf("local: %v", err)
		}
	}
}

// runBots runs bots with cfg to the end and fails the test if the run does.
func runBots(t *testing.T, cfg bot.Config) *bot.Stats {
	t.Helper()
	runner, err := bot.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stats, err := runner.Run(context.Background())
	t.Logf("\n%s", stats.Summary())
	if err != nil {
		t.Fatalf("bot run: %v", err)
	}
	return stats
}

// TestDataSurvivesRestart: bots play in both Regions, local mode stops and
// starts again on the same data directory, and every balance the players
// were told, the leaderboards and the game records are still there, each
// game paid once. Each Region's data is in its own file as laid out.
func TestDataSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: bots for a few seconds, twice")
	}
	dir := t.TempDir()
	l, stop := startData(t, dir)
	stats := runBots(t, bot.Config{
		HallURL: l.HallURL(), Players: 60, Duration: 6 * time.Second, Ramp: 60, Prefix: "keep",
		Think: 20 * time.Millisecond, MinGames: 1, MaxGames: 3, Break: 300 * time.Millisecond, LeaveGrace: 30 * time.Second, Seed: 7, Log: testLog(t),
	})
	stop()
	told := stats.Balances()
	if len(told["south"]) == 0 || len(told["north"]) == 0 || stats.FairFailures.Load() != 0 || stats.FairVerified.Load() == 0 || stats.BalanceConfirmed.Load() == 0 {
		t.Fatalf("balances told in south %d, north %d (confirmed by /v1/me %d); fair deals verified %d, failed %d",
			len(told["south"]), len(told["north"]), stats.BalanceConfirmed.Load(), stats.FairVerified.Load(), stats.FairFailures.Load())
	}

	// The files: accounts and South share db-main.db, North has db-north.db.
	books := func(file string) store.Store {
		st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, file), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	main, north := books("db-main.db"), books("db-north.db")
	for _, c := range []struct {
		st     store.Store
		region string
	}{{main, "south"}, {north, "north"}} {
		names, err := c.st.RegionNames(context.Background())
		if err != nil || !slices.Equal(names, []string{c.region}) {
			t.Fatalf("regions in %s's file: %v, %v", c.region, names, err)
		}
		r, err := c.st.Check(context.Background(), c.region)
		if err != nil || !r.OK() || r.Games == 0 {
			t.Fatalf("books of %s: %v, %v", c.region, r, err)
		}
		t.Logf("%s", r)
		// Nothing a player was told is lost: the last balance each saw is in the books.
		for account, coins := range told[c.region] {
			p, err := c.st.Profile(context.Background(), c.region, account)
			if err != nil || p.Coins != coins {
				t.Errorf("%s in %s: told %d coins, the books say %+v, %v", account, c.region, coins, p, err)
			}
		}
	}
	if a, err := main.Account(context.Background(), "keep-0"); err != nil || a.Source != store.SourceGuest {
		t.Fatalf("guest account in the login's file: %+v, %v", a, err)
	}

	// Start again on the same directory: the same balances and leaderboards.
	l2, stop2 := startData(t, dir)
	defer stop2()
	var account string
	var coins int64
	for a, c := range told["north"] {
		account, coins = a, c
		break
	}
	tok := loginAs(t, l2.HallURL(), account)
	var me profiles.MeResponse
	getJSON(t, l2.HallURL()+"/v1/me", tok, &me)
	found := false
	for _, r := range me.Regions {
		if r.Region == "north" {
			found = r.Coins == coins
		}
	}
	if !found {
		t.Fatalf("%s after the restart: %+v, want %d coins in north", account, me, coins)
	}
	var lb profiles.LeaderboardResponse
	getJSON(t, l2.HallURL()+"/v1/regions/south/leaderboard?limit=5", tok, &lb)
	if lb.Players != int64(len(told["south"])) || len(lb.Entries) == 0 || lb.Entries[0].Rank != 1 {
		t.Fatalf("south's leaderboard after the restart: %+v (players told a balance: %d)", lb, len(told["south"]))
	}
}

func loginAs(t *testing.T, hallURL, account string) string {
	t.Helper()
	body, _ := json.Marshal(login.Request{Account: account})
	resp, err := http.Post(hallURL+"/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lr login.Response
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&lr) != nil {
		t.Fatalf("login %s: %s", account, resp.Status)
	}
	return lr.Ticket
}

func getJSON(t *testing.T, url, ticket string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+ticket)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(fmt.Errorf("GET %s: %w", url, err))
	}
}

// TestToldBalancesAfterEscapes: players stop mid-game (an escape, settled
// without them) and drop their connections; every balance the bot still
// reports as told must be what the books hold. A bot that kept the balance
// of the GAME_OVER before an escape would report a stale one.
func TestToldBalancesAfterEscapes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: bots for a few seconds")
	}
	dir := t.TempDir()
	l, stop := startData(t, dir)
	stats := runBots(t, bot.Config{
		HallURL: l.HallURL(), Players: 45, Duration: 4 * time.Second, Ramp: 100, Prefix: "esc",
		Think: 100 * time.Millisecond, MinGames: 2, MaxGames: 4, Break: 200 * time.Millisecond,
		// Players look at the clock every TableWait/2: past the stop, a
		// game still running is left at once.
		LeaveGrace: time.Millisecond, TableWait: 2 * time.Second, DropEvery: time.Second, Seed: 11, Log: testLog(t),
	})
	stop()
	if stats.Escapes.Load() == 0 || stats.DropsOnPurpose.Load() == 0 {
		t.Fatalf("escapes %d, drops %d: the run shows nothing", stats.Escapes.Load(), stats.DropsOnPurpose.Load())
	}
	told := stats.Balances()
	checked := 0
	for file, region := range map[string]string{"db-main.db": "south", "db-north.db": "north"} {
		st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, file), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		for account, coins := range told[region] {
			p, err := st.Profile(context.Background(), region, account)
			if err != nil || p.Coins != coins {
				t.Errorf("%s in %s: told %d coins, the books say %+v, %v", account, region, coins, p, err)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no balance was told")
	}
	t.Logf("%d told balances match the books", checked)
}
