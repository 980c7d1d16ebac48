package gameserver_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/protocol/pb"
	"github.com/gamehall/gamehall/store"
	"github.com/gamehall/gamehall/store/pgtest"
	"github.com/gamehall/gamehall/ticket"
)

// The shard process of TestKillShardBeforeCommit: this test binary run again
// with GAMEHALL_KILL_SHARD_DSN set. It serves one room whose turn timer plays
// every move, settles in the database, and prints its address.
func TestKillShardProcess(t *testing.T) {
	dsn := os.Getenv("GAMEHALL_KILL_SHARD_DSN")
	if dsn == "" {
		t.Skip("the shard process of TestKillShardBeforeCommit")
	}
	pres := presence.NewMemory()
	for _, a := range strings.Split(os.Getenv("GAMEHALL_KILL_SHARD_SESSIONS"), ",") {
		account, session, _ := strings.Cut(a, ":")
		if _, err := pres.Login(context.Background(), account, session, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	db := store.NewLazy(dsn, store.Options{})
	srv, err := gameserver.New(gameserver.Config{Shard: "south-0", Region: "south", Rooms: 1, RoomCapacity: 10, TablesPerRoom: 2,
		Addr: "127.0.0.1:0", InternalAddr: "127.0.0.1:0", TurnTimeout: 20 * time.Millisecond, AutoPlayDelay: 20 * time.Millisecond,
		SettleWait: time.Hour, // no SETTLEMENT_PENDING: GAME_OVER only after the commit
	}, gameserver.Deps{Verifier: newKeys(t), Presence: pres, Store: db, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("LISTEN %s\n", srv.Addr())
	srv.Run(context.Background()) // until killed
}

// startShardProcess runs TestKillShardProcess in a child process.
func startShardProcess(t *testing.T, dsn string, sessions []string) (*exec.Cmd, string) {
	t.Helper()
	return startChildProcess(t, "TestKillShardProcess",
		"GAMEHALL_KILL_SHARD_DSN="+dsn, "GAMEHALL_KILL_SHARD_SESSIONS="+strings.Join(sessions, ","))
}

// TestKillShardBeforeCommit kills a shard process (SIGKILL) between a
// game's end and its settlement's commit, which a lock held on the players'
// balances keeps waiting. The players were told nothing (no GAME_OVER: the
// connection just drops); the previous game's balances, which they were
// told, stand; the killed game is paid once or not at all (the database may
// still run the statement it received); every stored game is zero-sum and
// paid once. A new shard process then settles the next game on top.
func TestKillShardBeforeCommit(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	st := openStore(t, dsn)
	keys := newKeys(t)
	accounts := []string{"ann", "bob", "cat"}
	var sessions []string
	for i, a := range accounts {
		sessions = append(sessions, fmt.Sprintf("%s:s%d", a, i))
	}
	seat := func(addr string) []*client.Conn {
		var cs []*client.Conn
		for i, a := range accounts {
			tok, err := keys.Sign(ticket.Player(a, fmt.Sprintf("s%d", i)), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			c, err := client.Dial(ctx20(t), addr, tok)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if _, err := c.EnterRoom(ctx20(t), 1); err != nil {
				t.Fatal(err)
			}
			if _, err := c.SitDown(ctx20(t), 0, i); err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
		return cs
	}
	// play readies the table; the turn timer plays. It returns the game's id
	// (from the DEAL) and each seat's GAME_OVER, nil for a connection that
	// dropped first.
	play := func(cs []*client.Conn, onDeal func()) (string, []*pb.GameEvent) {
		for _, c := range cs {
			if err := c.Ready(ctx20(t)); err != nil {
				t.Fatal(err)
			}
		}
		id := ""
		overs := make([]*pb.GameEvent, len(cs))
		for i, c := range cs {
			for overs[i] == nil {
				env, ok := <-c.Events()
				if !ok {
					break // the shard died
				}
				ge := env.GetGameEvent()
				switch {
				case ge == nil:
				case ge.Kind == pb.GameEventKind_DEAL && id == "":
					id = ge.GameId
					if onDeal != nil {
						onDeal()
					}
				case ge.Kind == pb.GameEventKind_GAME_OVER:
					overs[i] = ge
				}
			}
		}
		return id, overs
	}

	cmd, addr := startShardProcess(t, dsn, sessions)
	cs := seat(addr)
	_, overs := play(cs, nil)
	told := overs[0].Balances
	if overs[0].Settlement != pb.SettlementState_SETTLED || len(told) != 3 {
		t.Fatalf("first game: %v", overs[0])
	}

	// The second game: its settlement must wait for this lock on the balances.
	conn, err := pgx.Connect(ctx20(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	lock, err := conn.Begin(ctx20(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx20(t), "LOCK TABLE players IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	watch, err := pgx.Connect(ctx20(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(context.Background())
	killed := make(chan struct{})
	var gameID string
	var backends []int32 // the dead shard's backends that waited on the lock
	go func() {
		defer close(killed)
		// The game is over once its settlement waits on the lock: kill then.
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			err := watch.QueryRow(context.Background(), `SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity
				WHERE wait_event_type = 'Lock' AND query LIKE '%new_game%' AND pid <> pg_backend_pid()`).Scan(&backends)
			if err == nil && len(backends) > 0 {
				cmd.Process.Signal(syscall.SIGKILL)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Error("the second game's settlement never waited on the lock")
		cmd.Process.Kill()
	}()
	gameID, overs = play(cs, nil)
	<-killed
	cmd.Wait()
	if err := lock.Rollback(ctx20(t)); err != nil {
		t.Fatal(err)
	}
	// The statement the dead shard sent runs (and commits) once the lock
	// goes; its backend exits when it finds the client gone. Only then is
	// the outcome settled either way.
	for deadline := time.Now().Add(60 * time.Second); ; {
		var n int
		if err := watch.QueryRow(ctx20(t), `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, backends).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dead shard's database backends %v are still there", backends)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i, ge := range overs {
		if ge != nil {
			t.Fatalf("seat %d was told %v before the commit", i, ge)
		}
	}
	// The settlement the dead shard sent may still run once the lock goes:
	// PostgreSQL finishes a statement it already received. Either it is
	// paid once, or not at all; nothing the players were told is lost.
	var wantGames int64 = 1
	want := append([]int64(nil), told...)
	if g, err := st.Game(ctx20(t), gameID); err == nil {
		t.Logf("game %s was committed after its shard died (the statement had reached the database): paid once", gameID)
		wantGames = 2
		for i := range want {
			want[i] += g.Seats[i].Delta
		}
	} else {
		t.Logf("game %s was not committed: it does not count", gameID)
	}
	for i, a := range accounts {
		if p, err := st.Profile(ctx20(t), "south", a); err != nil || p.Coins != want[i] || p.Games != wantGames {
			t.Fatalf("%s after the kill: %+v, %v; want %d coins after %d games", a, p, err, want[i], wantGames)
		}
	}
	if r, err := st.Check(ctx20(t), "south"); err != nil || !r.OK() || r.Games != wantGames {
		t.Fatalf("books after the kill: %v, %v", r, err)
	}
	told = want

	// A new shard process: the next game is paid on top of the first.
	_, addr = startShardProcess(t, dsn, sessions)
	cs = seat(addr)
	_, overs = play(cs, nil)
	for i := range told {
		if want := told[i] + int64(overs[0].Scores[i]); overs[0].Balances[i] != want {
			t.Fatalf("third game: seat %d balance %d, want %d", i, overs[0].Balances[i], want)
		}
	}
	if r, err := st.Check(ctx20(t), "south"); err != nil || !r.OK() || r.Games != wantGames+1 {
		t.Fatalf("books at the end: %v, %v", r, err)
	}
}
