package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/store"
	"github.com/gamehall/gamehall/store/pgtest"
)

// runCmd runs a subcommand in this process with stdin given, and returns
// its exit code and what it printed (stdout and stderr).
func runCmd(t *testing.T, stdin string, run func([]string) int, args ...string) (int, string) {
	t.Helper()
	in, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	in.WriteString(stdin)
	in.Seek(0, io.SeekStart)
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	oldIn, oldOut, oldErr := os.Stdin, os.Stdout, os.Stderr
	os.Stdin, os.Stdout, os.Stderr = in, out, out
	code := run(args)
	os.Stdin, os.Stdout, os.Stderr = oldIn, oldOut, oldErr
	b, _ := os.ReadFile(out.Name())
	in.Close()
	out.Close()
	return code, string(b)
}

// TestStoreCommands: what an administrator does to a cluster's database,
// against a real PostgreSQL: gamehall migrate (twice: the second run
// changes nothing), gamehall account add/disable/enable/show/import, and
// gamehall check-settlements on sound and on tampered books.
func TestStoreCommands(t *testing.T) {
	t.Setenv("GAMEHALL_DATABASE_URL", "")
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	ctx := context.Background()
	const pw = "correct horse battery\n"

	if code, out := runCmd(t, pw, runAccount, "add", "ann", "--database-url", dsn); code != 1 || !strings.Contains(out, "schema") {
		t.Fatalf("account add before migrate: exit %d, %q; want 1 naming the schema", code, out)
	}
	if code, out := runCmd(t, "", runMigrate); code != 2 || !strings.Contains(out, "--database-url") {
		t.Fatalf("migrate without a URL: exit %d, %q", code, out)
	}
	code, out := runCmd(t, "", runMigrate, "--database-url", dsn)
	if code != 0 || !strings.Contains(out, "schema migrated from version 0 to") {
		t.Fatalf("migrate: exit %d, %q", code, out)
	}
	if code, out := runCmd(t, "", runMigrate, "--database-url", dsn); code != 0 || !strings.Contains(out, "schema already at version") {
		t.Fatalf("migrate again: exit %d, %q", code, out)
	}

	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	account := func(name string) store.Account {
		t.Helper()
		a, err := st.Account(ctx, name)
		if err != nil {
			t.Fatalf("account %s: %v", name, err)
		}
		return a
	}

	if code, out := runCmd(t, pw, runAccount, "add", "ann", "--cost", "4", "--database-url", dsn); code != 0 || !strings.Contains(out, "account ann created") {
		t.Fatalf("account add: exit %d, %q", code, out)
	}
	if a := account("ann"); a.Source != store.SourceAdmin || a.Disabled || bcrypt.CompareHashAndPassword(a.PasswordHash, []byte(strings.TrimSpace(pw))) != nil {
		t.Fatalf("ann after account add: %+v", a)
	}
	if code, out := runCmd(t, "short\n", runAccount, "add", "bob", "--cost", "4", "--database-url", dsn); code != 1 || !strings.Contains(out, "password") {
		t.Fatalf("account add with a weak password: exit %d, %q", code, out)
	}
	if _, err := st.Account(ctx, "bob"); err == nil {
		t.Fatal("bob was added with a weak password")
	}
	if code, _ := runCmd(t, "", runAccount, "disable", "ann", "--database-url", dsn); code != 0 || !account("ann").Disabled {
		t.Fatalf("account disable: exit %d, %+v", code, account("ann"))
	}
	if code, out := runCmd(t, "", runAccount, "show", "ann", "--database-url", dsn); code != 0 || !strings.Contains(out, "ann: disabled, from admin") {
		t.Fatalf("account show: exit %d, %q", code, out)
	}
	if code, _ := runCmd(t, "", runAccount, "enable", "ann", "--database-url", dsn); code != 0 || account("ann").Disabled {
		t.Fatalf("account enable: exit %d, %+v", code, account("ann"))
	}
	if code, _ := runCmd(t, "", runAccount, "disable", "nobody", "--database-url", dsn); code != 1 {
		t.Fatalf("account disable of a missing account: exit %d", code)
	}

	// An accounts file: its new names come in, the administrator's ann stays.
	file := filepath.Join(t.TempDir(), "accounts")
	for _, name := range []string{"cat", "ann"} {
		if err := login.AddAccount(file, name, "another fine password", 4); err != nil {
			t.Fatal(err)
		}
	}
	if code, out := runCmd(t, "", runAccount, "import", "--accounts", file, "--database-url", dsn); code != 0 ||
		!strings.Contains(out, "1 added") || !strings.Contains(out, "left alone") || !strings.Contains(out, "ann") {
		t.Fatalf("account import: exit %d, %q", code, out)
	}
	if a := account("cat"); a.Source != store.SourceFile {
		t.Fatalf("cat after import: %+v", a)
	}
	if a := account("ann"); a.Source != store.SourceAdmin || bcrypt.CompareHashAndPassword(a.PasswordHash, []byte(strings.TrimSpace(pw))) != nil {
		t.Fatalf("ann after import: %+v (the file must not take over an administrator's account)", a)
	}

	// The books: two games paid, then one paid twice by hand.
	if code, out := runCmd(t, "", runCheckSettlements, "--database-url", dsn); code != 0 || !strings.Contains(out, "no Region has players yet") {
		t.Fatalf("check-settlements of an empty database: exit %d, %q", code, out)
	}
	for i := range 2 {
		id := store.NewGameID("south", time.Now())
		if _, err := st.Settle(ctx, store.Settlement{GameID: id, Region: "south", EndedAt: time.Now(), Record: []byte{byte(i)}, Seats: []store.Seat{
			{Account: "ann", Role: store.RoleLandlord, Delta: 4}, {Account: "bob", Role: store.RoleFarmer, Delta: -2}, {Account: "cat", Role: store.RoleFarmer, Delta: -2},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	if code, out := runCmd(t, "", runCheckSettlements, "--database-url", dsn); code != 0 || !strings.Contains(out, "region south: 2 games zero-sum, 3 balances match their ledger") {
		t.Fatalf("check-settlements: exit %d, %q", code, out)
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `UPDATE players SET coins = coins + 4, score = score + 4 WHERE account = 'ann'`); err != nil {
		t.Fatal(err)
	}
	if code, out := runCmd(t, "", runCheckSettlements, "--database-url", dsn, "--region", "south"); code != 1 || !strings.Contains(out, "ann") {
		t.Fatalf("check-settlements of tampered books: exit %d, %q; want 1 naming ann", code, out)
	}
}
