package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gamehall/gamehall/bot"
	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/local"
	"github.com/gamehall/gamehall/protocol/pb"
	"github.com/gamehall/gamehall/ticket"
)

// TestKeyRotationUnderPlay rotates the ticket keys of a running platform
// while bots play, with no restart: a new key is published (halls and
// shards reload it), made active (new logins carry it), and the old key is
// retired: its tickets are refused by the hall and by the shards within the
// reload interval (keyReload here; 30 s plus the kubelet's Secret sync on
// Kubernetes). Players keep logging in and playing all along: no login,
// entry or game fails.
func TestKeyRotationUnderPlay(t *testing.T) {
	if testing.Short() {
		t.Skip("bots play for a few seconds across a key rotation")
	}
	const keyReload = 100 * time.Millisecond
	files := ticket.KeyFiles{Dir: t.TempDir()}
	for _, err := range []error{addKey(files, "k1"), files.Activate("k1")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	l, _ := startLocal(t, local.Config{
		Regions: loadRegions(t, smallRegion), Listen: "127.0.0.1:0", ScaleEvery: 200 * time.Millisecond, ShutdownGrace: 5 * time.Second,
		KeyDir: files.Dir, KeyReload: keyReload, Log: testLog(t),
		Shard: func(c *gameserver.Config) { c.MsgRate, c.MsgBurst, c.ChatRate, c.ChatBurst = 10000, 10000, 1000, 1000 },
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Short visits: every bot logs in again after each game or two, so new
	// tickets are signed and presented to shards throughout the rotation.
	runner, err := bot.New(bot.Config{
		HallURL: l.HallURL(), Players: 30, Duration: 5 * time.Minute, Ramp: 100,
		Think: 10 * time.Millisecond, MinGames: 1, MaxGames: 1, Break: 50 * time.Millisecond,
		LeaveGrace: 30 * time.Second, Seed: 7, Log: testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	botDone := make(chan *bot.Stats, 1)
	go func() { st, _ := runner.Run(ctx); botDone <- st }()
	stats := runner.Stats()
	waitFor := func(what string, cond func() (bool, string)) { eventually(t, 60*time.Second, what, cond) }
	gamesAbove := func(n int64) func() (bool, string) {
		return func() (bool, string) { return stats.Games.Load() > n, fmt.Sprintf("%d games", stats.Games.Load()) }
	}
	waitFor("games under k1", gamesAbove(0))
	k1Ticket, err := l.Keys().Sign(ticket.Player("k1-holder", "s"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// 1. Publish k2; halls and shards accept it once they reloaded, while
	// the login still signs with k1.
	if err := addKey(files, "k2"); err != nil {
		t.Fatal(err)
	}
	waitFor("the hall and the shards hold k2", func() (bool, string) {
		ids, active := l.Keys().KeyIDs()
		return strings.Join(ids, ",") == "k1,k2" && active == "k1", fmt.Sprintf("keys %v active %s", ids, active)
	})
	// 2. Activate k2: new logins carry it, and players keep playing.
	if err := files.Activate("k2"); err != nil {
		t.Fatal(err)
	}
	waitFor("logins signed with k2", func() (bool, string) {
		_, active := l.Keys().KeyIDs()
		return active == "k2", "active " + active
	})
	games := stats.Games.Load()
	logins := stats.Logins.Load()
	waitFor("games after the activation", gamesAbove(games+3))
	if stats.Logins.Load() <= logins {
		t.Fatal("no login after the activation")
	}
	// 3. Retire k1: its tickets are refused by the hall and by a shard.
	if err := files.Remove("k1"); err != nil {
		t.Fatal(err)
	}
	retired := time.Now()
	addr := shardAddr(t, l)
	waitFor("k1's ticket refused by the hall and a shard", func() (bool, string) {
		resp, err := get(l.HallURL()+"/v1/regions", k1Ticket)
		if err != nil || resp.StatusCode != http.StatusUnauthorized {
			return false, fmt.Sprintf("hall: %v %v", resp, err)
		}
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		defer dcancel()
		c, err := client.Dial(dctx, addr, k1Ticket)
		if err == nil {
			c.Close()
			return false, "the shard accepts k1"
		}
		return client.Code(err) == pb.ErrorCode_TICKET_INVALID && strings.Contains(err.Error(), "revoked"), err.Error()
	})
	t.Logf("k1 refused %v after its removal (reload interval %v)", time.Since(retired).Round(time.Millisecond), keyReload)
	waitFor("games after the retirement", gamesAbove(stats.Games.Load()+3))

	runner.Stop()
	st := <-botDone
	t.Logf("\n%s", st.Summary())
	if n := st.LoginFailures.Load() + st.EntryFailures.Load() - st.RoomFull.Load() - st.Draining.Load(); n != 0 {
		t.Errorf("%d logins or room entries failed across the rotation", n)
	}
	if n := st.ProtocolErrs.Load() + st.Dropped.Load() + st.Kicked.Load(); n != 0 {
		t.Errorf("%d protocol errors, %d connections lost, %d kicked across the rotation", st.ProtocolErrs.Load(), st.Dropped.Load(), st.Kicked.Load())
	}
	if n := st.NonZeroSum.Load(); n > 0 {
		t.Errorf("%d games did not score zero-sum", n)
	}
}

func addKey(files ticket.KeyFiles, kid string) error {
	k, err := ticket.GenerateKey()
	if err != nil {
		return err
	}
	return files.Add(kid, k)
}

func get(url, tok string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

// shardAddr reads a shard's players' address from the hall's room list.
func shardAddr(t *testing.T, l *local.Local) string {
	t.Helper()
	tok, err := l.Keys().Sign(ticket.Player("lookup", "s"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, l.HallURL()+"/v1/regions/e2e/rooms", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	var find func(v any) string
	find = func(v any) string {
		switch v := v.(type) {
		case map[string]any:
			if a, ok := v["address"].(string); ok && a != "" {
				if p, ok := v["port"].(float64); ok {
					return net.JoinHostPort(a, strconv.Itoa(int(p)))
				}
			}
			for _, x := range v {
				if s := find(x); s != "" {
					return s
				}
			}
		case []any:
			for _, x := range v {
				if s := find(x); s != "" {
					return s
				}
			}
		}
		return ""
	}
	addr := find(body)
	if addr == "" {
		t.Fatalf("no shard address in the room list: %v", body)
	}
	return addr
}
