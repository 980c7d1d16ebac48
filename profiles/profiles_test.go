package profiles_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/protobuf/proto"

	"github.com/gamehall/gamehall/profiles"
	"github.com/gamehall/gamehall/protocol/pb"
	"github.com/gamehall/gamehall/store"
	"github.com/gamehall/gamehall/store/pgtest"
	"github.com/gamehall/gamehall/ticket"
)

type env struct {
	t    *testing.T
	url  string
	keys *ticket.Keyring
}

// serve runs the routes over the given region databases (region → store).
func serve(t *testing.T, dbs map[string]store.Regions) env {
	t.Helper()
	k, err := ticket.NewRandomKeyring("k1")
	if err != nil {
		t.Fatal(err)
	}
	s, err := profiles.New(profiles.Config{TopSize: 4, TopTTL: time.Hour}, profiles.Deps{
		Keys: k, Log: logr.Discard(),
		DB: profiles.DatabasesFunc(func(_ context.Context, region string) (store.Regions, error) {
			if st, ok := dbs[region]; ok && st != nil {
				return st, nil
			}
			return nil, profiles.ErrNoDatabase
		}),
		Regions: func() []string {
			var out []string
			for r := range dbs {
				out = append(out, r)
			}
			return out
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return env{t: t, url: srv.URL, keys: k}
}

// get fetches path as account and decodes the JSON answer into out.
func (e env) get(account, path string, out any) int {
	e.t.Helper()
	tok, err := e.keys.Sign(ticket.Player(account, "s"), time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("GET %s: %d %s: %v", path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func sqliteStore(t *testing.T, name string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), name), store.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// settle pays a game where accounts[0] is landlord and wins 2m.
func settle(t *testing.T, st store.Regions, id, region string, accounts [3]string, m int64) {
	t.Helper()
	rec, _ := proto.Marshal(&pb.GameRecord{GameId: id, Region: region, Accounts: accounts[:], DealSeed: make([]byte, 32),
		Moves: []*pb.RecordedMove{{Seat: 0, Kind: pb.GameEventKind_BID, Bid: 1}}, Scores: []int32{int32(2 * m), int32(-m), int32(-m)}, Landlord: 0})
	_, err := st.Settle(context.Background(), store.Settlement{GameID: id, Region: region, EndedAt: time.Now(), Record: rec,
		Seats: []store.Seat{{Account: accounts[0], Role: store.RoleLandlord, Delta: 2 * m},
			{Account: accounts[1], Role: store.RoleFarmer, Delta: -m}, {Account: accounts[2], Role: store.RoleFarmer, Delta: -m}}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLeaderboardPagesAndRanks(t *testing.T) {
	st := sqliteStore(t, "south.db")
	e := serve(t, map[string]store.Regions{"south": st})
	// Scores: a 6, b 4 and c 4 (tied), d -2, e, f and g -4 (tied).
	settle(t, st, store.NewGameID("south", time.Now()), "south", [3]string{"a", "f", "g"}, 3)
	settle(t, st, store.NewGameID("south", time.Now()), "south", [3]string{"b", "e", "d"}, 2)
	settle(t, st, store.NewGameID("south", time.Now()), "south", [3]string{"c", "d", "e"}, 2)
	settle(t, st, store.NewGameID("south", time.Now()), "south", [3]string{"d", "f", "g"}, 1)
	settle(t, st, store.NewGameID("south", time.Now()), "south", [3]string{"e", "f", "g"}, 0) // a draw of zero

	var lb profiles.LeaderboardResponse
	if code := e.get("e", "/v1/regions/south/leaderboard?limit=3", &lb); code != http.StatusOK {
		t.Fatalf("leaderboard: %d", code)
	}
	got := ""
	for _, en := range lb.Entries {
		got += fmt.Sprintf("%d:%s:%d ", en.Rank, en.Account, en.Score)
	}
	if got != "1:a:6 2:b:4 2:c:4 " || lb.Players != 7 || lb.Me == nil || lb.Me.Account != "e" || lb.Me.Rank != 5 {
		t.Fatalf("page 1: %s players %d me %+v", got, lb.Players, lb.Me)
	}
	// Past the cached top (4 rows here): read from the database.
	lb = profiles.LeaderboardResponse{}
	if code := e.get("nobody", "/v1/regions/south/leaderboard?offset=3&limit=3", &lb); code != http.StatusOK {
		t.Fatal(code)
	}
	got = ""
	for _, en := range lb.Entries {
		got += fmt.Sprintf("%d:%s:%d ", en.Rank, en.Account, en.Score)
	}
	if got != "4:d:-2 5:e:-4 5:f:-4 " || lb.Me != nil {
		t.Fatalf("page 2: %s me %+v", got, lb.Me)
	}
	for _, bad := range []string{"?limit=0", "?limit=101", "?offset=-1", "?offset=9990&limit=20", "?limit=x"} {
		if code := e.get("a", "/v1/regions/south/leaderboard"+bad, nil); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
	if code := e.get("a", "/v1/regions/nowhere/leaderboard", nil); code != http.StatusNotFound {
		t.Errorf("unknown region: %d, want 404", code)
	}
}

// Two regions: one shares the database with a third, one has its own.
// /v1/me answers each, and a player who never played a region starts there
// with the starting coins.
func TestMeAcrossRegions(t *testing.T) {
	shared, own := sqliteStore(t, "main.db"), sqliteStore(t, "north.db")
	e := serve(t, map[string]store.Regions{"south": shared, "east": shared, "north": own, "practice": nil})
	settle(t, shared, store.NewGameID("south", time.Now()), "south", [3]string{"ann", "bob", "cat"}, 2)
	settle(t, own, store.NewGameID("north", time.Now()), "north", [3]string{"bob", "ann", "cat"}, 1)
	var me profiles.MeResponse
	if code := e.get("ann", "/v1/me", &me); code != http.StatusOK {
		t.Fatal(code)
	}
	want := map[string]int64{"east": store.StartingCoins, "north": store.StartingCoins - 1, "south": store.StartingCoins + 4}
	if len(me.Regions) != 3 || me.Account != "ann" {
		t.Fatalf("me: %+v", me)
	}
	for _, r := range me.Regions {
		if r.Coins != want[r.Region] {
			t.Errorf("%s: %d coins, want %d", r.Region, r.Coins, want[r.Region])
		}
	}
}

func TestGameRecordOnlyForItsPlayers(t *testing.T) {
	st := sqliteStore(t, "south.db")
	e := serve(t, map[string]store.Regions{"south": st})
	id := store.NewGameID("south", time.Now())
	settle(t, st, id, "south", [3]string{"ann", "bob", "cat"}, 2)
	var g profiles.GameJSON
	if code := e.get("bob", "/v1/games/"+id, &g); code != http.StatusOK {
		t.Fatalf("record for a player: %d", code)
	}
	if g.GameID != id || len(g.Seats) != 3 || g.Seats[1].Account != "bob" || g.Seats[1].Role != "farmer" || g.Seats[1].CoinsAfter != store.StartingCoins-2 ||
		len(g.Deals) != 1 || len(g.Deals[0].Hands) != 3 || len(g.Deals[0].Hands[0]) != 17 || len(g.Moves) != 1 || g.Moves[0].Kind != "BID" {
		t.Fatalf("record: %+v", g)
	}
	for _, c := range []struct{ who, path string }{{"eve", "/v1/games/" + id}, {"ann", "/v1/games/south-000000000000000000000000"}, {"ann", "/v1/games/nonsense"}} {
		if code := e.get(c.who, c.path, nil); code != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", c.who, c.path, code)
		}
	}
}

// A dead region database: its leaderboard answers 503 with a retry hint,
// /v1/me answers the other regions and names it unavailable.
func TestRegionDatabaseDown(t *testing.T) {
	pg := pgtest.Start(t)
	down, err := store.Open(context.Background(), pg.NewDatabase(t), store.Options{Migrate: true, OpTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	up := sqliteStore(t, "up.db")
	e := serve(t, map[string]store.Regions{"north": down, "south": up})
	pg.Kill()
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	if code := e.get("ann", "/v1/regions/north/leaderboard", &body); code != http.StatusServiceUnavailable || body.Error.Code != profiles.CodeDatabaseUnavailable {
		t.Fatalf("leaderboard of a dead database: %d %s", code, body.Error.Code)
	}
	var me profiles.MeResponse
	if code := e.get("ann", "/v1/me", &me); code != http.StatusOK || len(me.Regions) != 1 || me.Regions[0].Region != "south" ||
		len(me.Unavailable) != 1 || me.Unavailable[0] != "north" {
		t.Fatalf("me with one database down: %d %+v", code, me)
	}
}
