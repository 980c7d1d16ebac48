package gameserver_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/protocol/pb"
	"github.com/gamehall/gamehall/store"
	"github.com/gamehall/gamehall/store/pgtest"
)

func openStore(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn, store.Options{Migrate: true, OpTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// playRound readies the three seats and returns each seat's GAME_OVER, after
// checking that every seat verified its deal against the revealed seed.
func playRound(t *testing.T, cs []*client.Conn, bots []*bot) []*pb.GameEvent {
	t.Helper()
	for _, c := range cs {
		if err := c.Ready(ctx20(t)); err != nil {
			t.Fatal(err)
		}
	}
	var out []*pb.GameEvent
	for i, b := range bots {
		over := b.waitOver(t)
		b.mu.Lock()
		var check client.DealCheck
		for _, ev := range b.evs {
			check.Observe(ev)
		}
		b.evs = nil
		b.mu.Unlock()
		if err := check.Verify(over, i); err != nil {
			t.Fatalf("seat %d: fair deal check: %v", i, err)
		}
		out = append(out, over)
	}
	return out
}

func seatBots(t *testing.T, e *env) ([]*client.Conn, []*bot) {
	cs := seatThree(t, e, "ann", "bob", "cat")
	var bots []*bot
	for _, c := range cs {
		st, err := c.GetTable(ctx20(t))
		if err != nil {
			t.Fatal(err)
		}
		bots = append(bots, newBot(c, st, true, false))
	}
	t.Cleanup(func() {
		for _, b := range bots {
			close(b.stop)
		}
	})
	return cs, bots
}

// GAME_OVER goes out once the store has the game: it carries each seat's new
// balance, the seed that proves the deal, and the id of a record the store
// holds.
func TestGameOverCarriesSettledBalances(t *testing.T) {
	st := openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "south.db"))
	e := startShardDeps(t, gameserver.Config{Region: "south", Rooms: 1, RoomCapacity: 10, TablesPerRoom: 2}, gameserver.Deps{Store: st})
	cs, bots := seatBots(t, e)
	coins := []int64{store.StartingCoins, store.StartingCoins, store.StartingCoins}
	for round := range 3 {
		overs := playRound(t, cs, bots)
		ge := overs[0]
		if ge.Settlement != pb.SettlementState_SETTLED || len(ge.Balances) != 3 {
			t.Fatalf("round %d: GAME_OVER %v, want SETTLED with three balances", round, ge)
		}
		for i := range coins {
			coins[i] += int64(ge.Scores[i])
		}
		if !slices.Equal(ge.Balances, coins) {
			t.Fatalf("round %d: balances %v, want %v (start + scores)", round, ge.Balances, coins)
		}
		g, err := st.Game(ctx20(t), ge.GameId)
		if err != nil {
			t.Fatalf("record of %s: %v", ge.GameId, err)
		}
		var rec pb.GameRecord
		if err := proto.Unmarshal(g.Record, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.GameId != ge.GameId || !slices.Equal(rec.Accounts, []string{"ann", "bob", "cat"}) || len(rec.Moves) < 4 ||
			!slices.Equal(rec.DealSeed, ge.DealSeed) || rec.Region != "south" || !slices.Equal(rec.Scores, ge.Scores) {
			t.Fatalf("record %v", &rec)
		}
		t.Logf("round %d: game %s, record %d bytes, %d moves", round, ge.GameId, len(g.Record), len(rec.Moves))
	}
	if p, err := st.Profile(ctx20(t), "south", "ann"); err != nil || p.Coins != coins[0] || p.Games != 3 {
		t.Fatalf("ann's profile %+v, %v; want %d coins after 3 games", p, err, coins[0])
	}
	if r, err := st.Check(ctx20(t), "south"); err != nil || !r.OK() || r.Games != 3 {
		t.Fatalf("books: %v, %v", r, err)
	}
}

// With the database down, games go on: GAME_OVER says SETTLEMENT_PENDING,
// the shard keeps the results (a bounded backlog: at its limit new games
// wait), and when the database is back every result is paid once and the
// players get Settled with their balances.
func TestStoreOutageKeepsResultsAndRetries(t *testing.T) {
	pg := pgtest.Start(t)
	st := openStore(t, pg.NewDatabase(t))
	e := startShardDeps(t, gameserver.Config{Region: "south", Rooms: 1, RoomCapacity: 10, TablesPerRoom: 2,
		SettleWait: 300 * time.Millisecond, SettleAttemptTimeout: time.Second, SettleBacklog: 2}, gameserver.Deps{Store: st})
	cs, bots := seatBots(t, e)
	first := playRound(t, cs, bots)[0]
	if first.Settlement != pb.SettlementState_SETTLED {
		t.Fatalf("with the database up: %v", first.Settlement)
	}
	want := slices.Clone(first.Balances)

	pg.Kill()
	var pending []*pb.GameEvent
	for range 2 {
		ge := playRound(t, cs, bots)[0]
		if ge.Settlement != pb.SettlementState_SETTLEMENT_PENDING || ge.Balances != nil {
			t.Fatalf("with the database down: %v, want SETTLEMENT_PENDING without balances", ge)
		}
		pending = append(pending, ge)
		for i := range want {
			want[i] += int64(ge.Scores[i])
		}
	}
	if got := metric(t, e, "gamehall_settlement_backlog"); got != "2" {
		t.Fatalf("backlog metric %s, want 2", got)
	}
	if err := cs[0].Ready(ctx20(t)); client.Code(err) != pb.ErrorCode_UNAVAILABLE {
		t.Fatalf("ready with a full backlog: %v, want UNAVAILABLE", err)
	}

	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	// The retries may commit the two games in either order (each Settled
	// carries the balances after its own commit); the books end the same.
	for i, b := range bots {
		got := map[string][]int64{}
		for len(got) < 2 {
			select {
			case s := <-b.settled:
				got[s.GameId] = s.Balances
			case <-time.After(30 * time.Second):
				t.Fatalf("seat %d: no Settled push for the pending games (got %v)", i, got)
			}
		}
		for _, ge := range pending {
			if len(got[ge.GameId]) != 3 {
				t.Fatalf("seat %d: Settled for %s: %v", i, ge.GameId, got[ge.GameId])
			}
		}
	}
	for i, account := range []string{"ann", "bob", "cat"} {
		if p, err := st.Profile(ctx20(t), "south", account); err != nil || p.Coins != want[i] || p.Games != 3 {
			t.Fatalf("%s after the outage: %+v, %v; want %d coins after 3 games (paid once each)", account, p, err, want[i])
		}
	}
	eventually(t, "the backlog to empty", func() bool { return metric(t, e, "gamehall_settlement_backlog") == "0" })
	if r, err := st.Check(ctx20(t), "south"); err != nil || !r.OK() || r.Games != 3 {
		t.Fatalf("books after the outage: %v, %v", r, err)
	}
	if got := playRound(t, cs, bots)[0]; got.Settlement != pb.SettlementState_SETTLED {
		t.Fatalf("after the outage: %v", got.Settlement)
	}
}

// metric reads one unlabeled series from the shard's /metrics.
func metric(t *testing.T, e *env, name string) string {
	t.Helper()
	resp, err := http.Get(e.internalURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	return string(m[1])
}
