package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/crypto/bcrypt"

	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/store"
)

func init() {
	register(command{name: "account", short: "add, disable, enable or import login accounts (accounts database or file)", run: runAccount})
}

const accountHelp = `Usage:
  gamehall account add NAME     --database-url URL   (or --accounts FILE)
  gamehall account disable NAME --database-url URL
  gamehall account enable NAME  --database-url URL
  gamehall account show NAME    --database-url URL
  gamehall account import       --database-url URL --accounts FILE

add reads the password from stdin (first line) and stores its bcrypt hash:
in the accounts database (the Hall's login.accountsDatabase; the password
must pass the sign-up policy: at least 10 characters, not the name, not a
well-known one), or in an accounts file of name:hash lines (created if
missing; other accounts are kept). An existing account gets the new password.

disable stops an account from logging in (login answers 403
ACCOUNT_DISABLED; sessions already open last until their ticket expires);
enable lets it in again. import copies an accounts file into the database:
new names are added, accounts the file added before take its password, and
accounts from sign-up or 'account add' are left alone. Halls with both an
accounts file and a database import the file at start and on every change.

Flags:
`

func runAccount(args []string) int {
	fs := pflag.NewFlagSet("account", pflag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, accountHelp+fs.FlagUsages()) }
	file := fs.String("accounts", "", "accounts file (add: instead of a database; import: the file to read)")
	db := addDatabaseFlags(fs, "accounts database")
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "gamehall account: "+format+"\n", a...)
		return code
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return 2
	}
	verb, name := rest[0], ""
	if verb != "import" {
		if len(rest) != 2 {
			fs.Usage()
			return 2
		}
		name = rest[1]
		if err := login.ValidAccountName(name); err != nil {
			return fail(2, "%v", err)
		}
	} else if len(rest) != 1 {
		fs.Usage()
		return 2
	}
	dsn, err := db.resolve()
	if err != nil {
		return fail(2, "%v", err)
	}
	if verb == "add" && dsn == "" && *file != "" {
		password, err := readPassword(name)
		if err != nil {
			return fail(1, "%v", err)
		}
		if err := login.AddAccount(*file, name, password, *cost); err != nil {
			return fail(1, "%v", err)
		}
		fmt.Fprintf(os.Stderr, "account %s written to %s\n", name, *file)
		return 0
	}
	if dsn == "" {
		return fail(2, "--database-url (or --database-url-file) is required (add also takes --accounts FILE)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		return fail(1, "%v", err)
	}
	defer st.Close()
	switch verb {
	case "add":
		password, err := readPassword(name)
		if err == nil {
			err = login.CheckPassword(name, password)
		}
		if err != nil {
			return fail(1, "%v", err)
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(password), *cost)
		if err != nil {
			return fail(1, "%v", err)
		}
		created, err := st.PutAccount(ctx, store.Account{Name: name, PasswordHash: hash, Source: store.SourceAdmin})
		if err != nil {
			return fail(1, "%v", err)
		}
		what := "password changed"
		if created {
			what = "created"
		}
		fmt.Fprintf(os.Stderr, "account %s %s in %s\n", name, what, store.Redact(dsn))
	case "disable", "enable":
		if err := st.SetDisabled(ctx, name, verb == "disable"); err != nil {
			return fail(1, "%v", err)
		}
		fmt.Fprintf(os.Stderr, "account %s %sd\n", name, verb)
	case "show":
		a, err := st.Account(ctx, name)
		if err != nil {
			return fail(1, "%v", err)
		}
		state := "enabled"
		if a.Disabled {
			state = "disabled"
		}
		fmt.Printf("%s: %s, from %s, created %s\n", a.Name, state, a.Source, a.CreatedAt.Format(time.RFC3339))
	case "import":
		if *file == "" {
			return fail(2, "import needs --accounts FILE")
		}
		accts, err := login.LoadAccounts(*file)
		if err != nil {
			return fail(1, "%v", err)
		}
		r, err := accts.ImportInto(ctx, st)
		if err != nil {
			return fail(1, "%v", err)
		}
		fmt.Fprintf(os.Stderr, "imported %s: %d added, %d updated, %d unchanged\n", *file, r.Added, r.Updated, r.Unchanged)
		if len(r.Skipped) > 0 {
			fmt.Fprintf(os.Stderr, "left alone (signed up or added by an administrator, not from the file): %s\n", strings.Join(r.Skipped, ", "))
		}
	default:
		return fail(2, "unknown action %q (add, disable, enable, show, import)", verb)
	}
	return 0
}

// readPassword reads the first line of stdin, prompting on a terminal.
func readPassword(name string) (string, error) {
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		fmt.Fprintf(os.Stderr, "password for %s: ", name)
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return "", errors.New("empty password")
	}
	return password, nil
}
