// Package storetest is the conformance suite of store.Store: every
// implementation must pass Run.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gamehall/gamehall/store"
)

// Harness gives the suite fresh databases of the implementation under test.
type Harness struct {
	// NewDSN returns the URL of a new, empty database.
	NewDSN func(t *testing.T) string
	// Exec runs raw SQL on the database at dsn (the suite corrupts books
	// on purpose to see Check find it).
	Exec func(t *testing.T, dsn, sql string)
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	open := func(t *testing.T) (store.Store, string) {
		t.Helper()
		dsn := h.NewDSN(t)
		s, err := store.Open(context.Background(), dsn, store.Options{Migrate: true})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s, dsn
	}
	t.Run("Migrations", func(t *testing.T) { testMigrations(t, h) })
	t.Run("Accounts", func(t *testing.T) { s, _ := open(t); testAccounts(t, s) })
	t.Run("ImportAccounts", func(t *testing.T) { s, _ := open(t); testImport(t, s) })
	t.Run("Settle", func(t *testing.T) { s, _ := open(t); testSettle(t, s) })
	t.Run("SettleRefusesBadInput", func(t *testing.T) { s, _ := open(t); testSettleInvalid(t, s) })
	t.Run("RetriesPayOnce", func(t *testing.T) { s, _ := open(t); testRetries(t, s) })
	t.Run("ConcurrentGames", func(t *testing.T) { s, _ := open(t); testConcurrent(t, s) })
	t.Run("RegionsShareADatabase", func(t *testing.T) { s, _ := open(t); testRegions(t, s) })
	t.Run("Leaderboard", func(t *testing.T) { s, _ := open(t); testLeaderboard(t, s) })
	t.Run("CheckFindsBrokenBooks", func(t *testing.T) { s, dsn := open(t); testCheck(t, s, func(q string) { h.Exec(t, dsn, q) }) })
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func testMigrations(t *testing.T, h Harness) {
	dsn := h.NewDSN(t)
	if _, err := store.Open(ctx(t), dsn, store.Options{}); !errors.Is(err, store.ErrSchema) {
		t.Fatalf("open of an empty database without Migrate: got %v, want ErrSchema", err)
	}
	// Several processes start at once (local restarts, shards): one migrates,
	// the others find it done.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	tos := make([]int, 4)
	for i := range errs {
		wg.Go(func() { _, tos[i], errs[i] = store.Migrate(ctx(t), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate %d: %v", i, err)
		}
		if tos[i] != tos[0] || tos[i] < 1 {
			t.Fatalf("migrations reached versions %v", tos)
		}
	}
	from, to, err := store.Migrate(ctx(t), dsn)
	if err != nil || from != to || to != tos[0] {
		t.Fatalf("second migrate: %d→%d, %v; want a no-op at %d", from, to, err, tos[0])
	}
	s, err := store.Open(ctx(t), dsn, store.Options{})
	if err != nil {
		t.Fatalf("open after migrate: %v", err)
	}
	s.Close()
}

func testAccounts(t *testing.T, s store.Store) {
	c := ctx(t)
	if _, err := s.Account(c, "ann"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing account: %v, want ErrNotFound", err)
	}
	ann := store.Account{Name: "ann", PasswordHash: []byte("$2a$hash1"), Source: store.SourceSignup}
	if err := s.CreateAccount(c, ann); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(c, ann); !errors.Is(err, store.ErrAccountExists) {
		t.Fatalf("second sign-up of a name: %v, want ErrAccountExists", err)
	}
	got, err := s.Account(c, "ann")
	if err != nil || string(got.PasswordHash) != "$2a$hash1" || got.Source != store.SourceSignup || got.Disabled || got.CreatedAt.IsZero() {
		t.Fatalf("account: %+v, %v", got, err)
	}
	if err := s.SetDisabled(c, "ann", true); err != nil {
		t.Fatal(err)
	}
	created, err := s.PutAccount(c, store.Account{Name: "ann", PasswordHash: []byte("$2a$hash2"), Source: store.SourceAdmin})
	if err != nil || created {
		t.Fatalf("put over an account: created %v, %v", created, err)
	}
	got, _ = s.Account(c, "ann")
	if string(got.PasswordHash) != "$2a$hash2" || got.Source != store.SourceAdmin || !got.Disabled {
		t.Fatalf("after put: %+v (the password changes, disabled stays)", got)
	}
	if err := s.SetDisabled(c, "ann", false); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.Account(c, "ann"); got.Disabled {
		t.Fatal("re-enabled account still disabled")
	}
	if err := s.SetDisabled(c, "nobody", true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("disable a missing account: %v, want ErrNotFound", err)
	}
	if created, err := s.PutAccount(c, store.Account{Name: "bob", PasswordHash: []byte("$2a$h"), Source: store.SourceAdmin}); err != nil || !created {
		t.Fatalf("put a new account: created %v, %v", created, err)
	}
	// A guest name is claimed once; a registered name stays registered.
	g, err := s.ClaimGuest(c, "guest1")
	if err != nil || g.Source != store.SourceGuest || g.PasswordHash != nil {
		t.Fatalf("claim guest: %+v, %v", g, err)
	}
	if g, err = s.ClaimGuest(c, "guest1"); err != nil || g.Source != store.SourceGuest {
		t.Fatalf("claim the same guest again: %+v, %v", g, err)
	}
	if err := s.CreateAccount(c, store.Account{Name: "guest1", PasswordHash: []byte("x"), Source: store.SourceSignup}); !errors.Is(err, store.ErrAccountExists) {
		t.Fatalf("sign-up over a guest's name: %v, want ErrAccountExists", err)
	}
	if g, err = s.ClaimGuest(c, "ann"); err != nil || g.Source != store.SourceAdmin {
		t.Fatalf("claim a registered name as guest: %+v, %v (want the registered account back)", g, err)
	}
}

func testImport(t *testing.T, s store.Store) {
	c := ctx(t)
	file := func(name, hash string) store.Account {
		return store.Account{Name: name, PasswordHash: []byte(hash), Source: store.SourceFile}
	}
	r, err := s.ImportAccounts(c, []store.Account{file("a", "h1"), file("b", "h1")})
	if err != nil || r.Added != 2 {
		t.Fatalf("first import: %+v, %v", r, err)
	}
	if err := s.CreateAccount(c, store.Account{Name: "c", PasswordHash: []byte("mine"), Source: store.SourceSignup}); err != nil {
		t.Fatal(err)
	}
	r, err = s.ImportAccounts(c, []store.Account{file("a", "h1"), file("b", "h2"), file("c", "theirs"), file("d", "h1")})
	if err != nil || r.Added != 1 || r.Updated != 1 || r.Unchanged != 1 || !slices.Equal(r.Skipped, []string{"c"}) {
		t.Fatalf("second import: %+v, %v (want 1 added, 1 updated, 1 unchanged, c skipped)", r, err)
	}
	if a, _ := s.Account(c, "c"); string(a.PasswordHash) != "mine" {
		t.Fatal("the import took over a signed-up account")
	}
	if a, _ := s.Account(c, "b"); string(a.PasswordHash) != "h2" {
		t.Fatal("the import did not update a file account's password")
	}
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// game is a Dou Dizhu result: landlord at seat 0 wins or loses 2m, the farmers the opposite m.
func game(id, region string, accounts [3]string, landlordWon bool, m int64) store.Settlement {
	d := m
	if !landlordWon {
		d = -m
	}
	return store.Settlement{GameID: id, Region: region, EndedAt: t0, Record: []byte("record:" + id), Seats: []store.Seat{
		{Account: accounts[0], Role: store.RoleLandlord, Delta: 2 * d},
		{Account: accounts[1], Role: store.RoleFarmer, Delta: -d},
		{Account: accounts[2], Role: store.RoleFarmer, Delta: -d},
	}}
}

func mustSettle(t *testing.T, s store.Store, g store.Settlement) store.Settled {
	t.Helper()
	r, err := s.Settle(ctx(t), g)
	if err != nil {
		t.Fatalf("settle %s: %v", g.GameID, err)
	}
	return r
}

func profile(t *testing.T, s store.Store, region, account string) store.Profile {
	t.Helper()
	p, err := s.Profile(ctx(t), region, account)
	if err != nil {
		t.Fatalf("profile %s/%s: %v", region, account, err)
	}
	return p
}

func checkOK(t *testing.T, s store.Store, region string) store.CheckReport {
	t.Helper()
	r, err := s.Check(ctx(t), region)
	if err != nil {
		t.Fatalf("check %s: %v", region, err)
	}
	if !r.OK() {
		t.Fatalf("check: %s", r)
	}
	return r
}

func testSettle(t *testing.T, s store.Store) {
	const sc = store.StartingCoins
	if _, err := s.Profile(ctx(t), "r", "ann"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("profile before any game: %v, want ErrNotFound", err)
	}
	r := mustSettle(t, s, game("g1", "r", [3]string{"ann", "bob", "cat"}, true, 3))
	if r.Replayed || !slices.Equal(r.Coins, []int64{sc + 6, sc - 3, sc - 3}) {
		t.Fatalf("first game: %+v", r)
	}
	// Roles move: bob is landlord and loses; an escape during bidding has no roles.
	r = mustSettle(t, s, game("g2", "r", [3]string{"bob", "ann", "cat"}, false, 2))
	if !slices.Equal(r.Coins, []int64{sc - 3 - 4, sc + 6 + 2, sc - 3 + 2}) {
		t.Fatalf("second game: %+v", r)
	}
	esc := store.Settlement{GameID: "g3", Region: "r", EndedAt: t0, Record: []byte{7}, Seats: []store.Seat{
		{Account: "ann", Delta: 1}, {Account: "bob", Delta: 1}, {Account: "cat", Delta: -2}}}
	mustSettle(t, s, esc)

	ann := profile(t, s, "r", "ann")
	want := store.Profile{Region: "r", Account: "ann", Coins: sc + 9, Score: 9, Games: 3, Wins: 3,
		LandlordGames: 1, LandlordWins: 1, FarmerGames: 1, FarmerWins: 1}
	ann.UpdatedAt = time.Time{}
	if ann != want {
		t.Fatalf("ann: %+v\nwant %+v", ann, want)
	}
	bob := profile(t, s, "r", "bob")
	if bob.Games != 3 || bob.Wins != 1 || bob.LandlordGames != 1 || bob.LandlordWins != 0 || bob.FarmerGames != 1 || bob.FarmerWins != 0 || bob.Score != -3-4+1 {
		t.Fatalf("bob: %+v", bob)
	}

	g, err := s.Game(ctx(t), "g2")
	if err != nil {
		t.Fatal(err)
	}
	if g.Region != "r" || string(g.Record) != "record:g2" || !g.EndedAt.Equal(t0) || len(g.Seats) != 3 ||
		g.Seats[0] != (store.Seat{Account: "bob", Role: store.RoleLandlord, Delta: -4}) || g.Coins[1] != sc+8 {
		t.Fatalf("game g2: %+v", g)
	}
	if _, err := s.Game(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing game: %v, want ErrNotFound", err)
	}
	if r := checkOK(t, s, "r"); r.Games != 3 || r.Players != 3 {
		t.Fatalf("check counted %d games, %d players", r.Games, r.Players)
	}
}

func testSettleInvalid(t *testing.T, s store.Store) {
	bad := map[string]store.Settlement{
		"not zero-sum": {GameID: "x1", Region: "r", EndedAt: t0, Seats: []store.Seat{{Account: "a", Delta: 1}, {Account: "b", Delta: 0}}},
		"seated twice": {GameID: "x2", Region: "r", EndedAt: t0, Seats: []store.Seat{{Account: "a", Delta: 1}, {Account: "a", Delta: -1}}},
		"one seat":     {GameID: "x3", Region: "r", EndedAt: t0, Seats: []store.Seat{{Account: "a"}}},
		"no id":        {Region: "r", EndedAt: t0, Seats: []store.Seat{{Account: "a", Delta: 1}, {Account: "b", Delta: -1}}},
		"no region":    {GameID: "x4", EndedAt: t0, Seats: []store.Seat{{Account: "a", Delta: 1}, {Account: "b", Delta: -1}}},
	}
	for name, g := range bad {
		if _, err := s.Settle(ctx(t), g); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	mustSettle(t, s, game("g", "r", [3]string{"a", "b", "c"}, true, 1))
	other := game("g", "r", [3]string{"a", "b", "c"}, false, 1)
	if _, err := s.Settle(ctx(t), other); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("same game id, another result: %v, want ErrConflict", err)
	}
	checkOK(t, s, "r")
}

// testRetries settles one game from many goroutines at once and again later:
// exactly one pays, every answer carries the same balances.
func testRetries(t *testing.T, s store.Store) {
	g := game("retry", "r", [3]string{"a", "b", "c"}, true, 4)
	const n = 8
	res := make([]store.Settled, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { res[i], errs[i] = s.Settle(ctx(t), g) })
	}
	wg.Wait()
	paid := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("retry %d: %v", i, errs[i])
		}
		if !res[i].Replayed {
			paid++
		}
		if !slices.Equal(res[i].Coins, res[0].Coins) {
			t.Fatalf("retries answered different balances: %v and %v", res[i].Coins, res[0].Coins)
		}
	}
	if paid != 1 {
		t.Fatalf("%d of %d concurrent settlements paid, want exactly 1", paid, n)
	}
	if later := mustSettle(t, s, g); !later.Replayed || !slices.Equal(later.Coins, res[0].Coins) {
		t.Fatalf("a later retry: %+v", later)
	}
	if a := profile(t, s, "r", "a"); a.Coins != store.StartingCoins+8 || a.Games != 1 {
		t.Fatalf("a after retries: %+v (paid more than once?)", a)
	}
	checkOK(t, s, "r")
}

// testConcurrent settles many games among few players from many goroutines
// (the shard's settlers): balances end at the sum of the games.
func testConcurrent(t *testing.T, s store.Store) {
	players := []string{"p0", "p1", "p2", "p3", "p4", "p5"}
	const games = 120
	want := map[string]int64{}
	var gs []store.Settlement
	for i := range games {
		acc := [3]string{players[i%6], players[(i+1)%6], players[(i+3)%6]}
		g := game(fmt.Sprintf("c%03d", i), "r", acc, i%3 == 0, int64(1+i%4))
		for _, st := range g.Seats {
			want[st.Account] += st.Delta
		}
		gs = append(gs, g)
	}
	var wg sync.WaitGroup
	errs := make(chan error, games)
	for w := range 6 {
		wg.Go(func() {
			for i := w; i < games; i += 6 {
				if _, err := s.Settle(ctx(t), gs[i]); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, p := range players {
		if got := profile(t, s, "r", p); got.Coins != store.StartingCoins+want[p] || got.Score != want[p] {
			t.Errorf("%s: coins %d score %d, want %d", p, got.Coins, got.Score, store.StartingCoins+want[p])
		}
	}
	if r := checkOK(t, s, "r"); r.Games != games {
		t.Fatalf("check saw %d games, want %d", r.Games, games)
	}
}

// testRegions: two regions in one database keep separate balances and books.
func testRegions(t *testing.T, s store.Store) {
	acc := [3]string{"a", "b", "c"}
	mustSettle(t, s, game("n1", "north", acc, true, 5))
	mustSettle(t, s, game("s1", "south", acc, false, 1))
	if n, so := profile(t, s, "north", "a"), profile(t, s, "south", "a"); n.Coins != store.StartingCoins+10 || so.Coins != store.StartingCoins-2 {
		t.Fatalf("a: north %d, south %d", n.Coins, so.Coins)
	}
	lb, err := s.Leaderboard(ctx(t), "south", 0, 10)
	if err != nil || len(lb) != 3 {
		t.Fatalf("south leaderboard: %v, %v", lb, err)
	}
	for _, p := range lb {
		if p.Region != "south" {
			t.Fatalf("south's leaderboard lists %+v", p)
		}
	}
	if names, err := s.RegionNames(ctx(t)); err != nil || !slices.Equal(names, []string{"north", "south"}) {
		t.Fatalf("region names: %v, %v", names, err)
	}
	if r := checkOK(t, s, "north"); r.Games != 1 || r.Players != 3 {
		t.Fatalf("north check: %s", r)
	}
	checkOK(t, s, "south")
}

func testLeaderboard(t *testing.T, s store.Store) {
	// Scores: dan 8, ann 2 and bob 2 (tie: by name), cat -4, eve -8.
	mustSettle(t, s, game("l1", "r", [3]string{"dan", "cat", "eve"}, true, 4))
	mustSettle(t, s, game("l2", "r", [3]string{"eve", "ann", "bob"}, false, 2))
	lb, err := s.Leaderboard(ctx(t), "r", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range lb {
		names = append(names, fmt.Sprintf("%s:%d", p.Account, p.Score))
	}
	if want := []string{"dan:8", "ann:2", "bob:2", "cat:-4", "eve:-8"}; !slices.Equal(names, want) {
		t.Fatalf("leaderboard %v, want %v", names, want)
	}
	page, err := s.Leaderboard(ctx(t), "r", 2, 2)
	if err != nil || len(page) != 2 || page[0].Account != "bob" || page[1].Account != "cat" {
		t.Fatalf("page 2 of 2: %+v, %v", page, err)
	}
	counts, err := s.ScoreCounts(ctx(t), "r")
	want := []store.ScoreCount{{Score: 8, Players: 1}, {Score: 2, Players: 2}, {Score: -4, Players: 1}, {Score: -8, Players: 1}}
	if err != nil || !slices.Equal(counts, want) {
		t.Fatalf("score counts %v, %v; want %v", counts, err, want)
	}
	if empty, err := s.Leaderboard(ctx(t), "none", 0, 10); err != nil || len(empty) != 0 {
		t.Fatalf("leaderboard of an empty region: %v, %v", empty, err)
	}
}

// testCheck breaks the books behind the store's back, as a bug or a
// double payment would, and expects Check to name the culprits.
func testCheck(t *testing.T, s store.Store, exec func(string)) {
	mustSettle(t, s, game("k1", "r", [3]string{"a", "b", "c"}, true, 1))
	mustSettle(t, s, game("k2", "r", [3]string{"a", "b", "c"}, true, 1))
	checkOK(t, s, "r")
	exec(`UPDATE players SET coins = coins + 2, score = score + 2 WHERE region = 'r' AND account = 'a'`)
	exec(`DELETE FROM game_seats WHERE game_id = 'k2' AND seat = 2`)
	r, err := s.Check(ctx(t), "r")
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || !slices.Equal(r.NotZeroSum, []string{"k2"}) || !slices.Contains(r.Unbalanced, "a") || !slices.Contains(r.Unbalanced, "c") {
		t.Fatalf("check of broken books: %s (want k2 not zero-sum; a paid twice; c's ledger short)", r)
	}
}
