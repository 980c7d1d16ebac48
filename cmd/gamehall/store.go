package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gamehall/gamehall/store"
)

func init() {
	register(command{name: "migrate", short: "bring a database's schema (accounts, balances, games) up to this version", run: runMigrate})
	register(command{name: "check-settlements", short: "prove a database's books: every game zero-sum, every balance equal to its ledger", run: runCheckSettlements})
}

// databaseFlags are the flags that name a database: its URL, or a file
// holding it (a mounted Secret).
type databaseFlags struct {
	url, file *string
}

func addDatabaseFlags(fs *pflag.FlagSet, what string) databaseFlags {
	return databaseFlags{
		url:  fs.String("database-url", os.Getenv("GAMEHALL_DATABASE_URL"), what+": postgres://user:pass@host:5432/db or sqlite:PATH (env GAMEHALL_DATABASE_URL)"),
		file: fs.String("database-url-file", "", "file holding the database URL (a mounted Secret's key); instead of --database-url"),
	}
}

// resolve returns the URL; "" when neither flag is set.
func (d databaseFlags) resolve() (string, error) {
	if *d.file == "" {
		return strings.TrimSpace(*d.url), nil
	}
	b, err := os.ReadFile(*d.file)
	if err != nil {
		return "", fmt.Errorf("database URL file: %w", err)
	}
	u := strings.TrimSpace(string(b))
	if u == "" {
		return "", fmt.Errorf("database URL file %s is empty", *d.file)
	}
	return u, nil
}

const migrateHelp = `Usage: gamehall migrate --database-url URL

Applies the schema migrations this binary carries (store/migrations) to the
database: the accounts of a login, and the balances, ledger and game records
of the Regions it holds. Run it before starting halls and shards of a new
version; it is safe to run again and from several places at once. Local mode
migrates its own files at start.

Flags:
`

func runMigrate(args []string) int {
	fs := pflag.NewFlagSet("migrate", pflag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, migrateHelp+fs.FlagUsages()) }
	db := addDatabaseFlags(fs, "database to migrate")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	dsn, err := db.resolve()
	if err == nil && dsn == "" {
		err = errors.New("--database-url (or --database-url-file) is required")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gamehall migrate:", err)
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	from, to, err := store.Migrate(ctx, dsn)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gamehall migrate: %s: %v\n", store.Redact(dsn), err)
		return 1
	}
	if from == to {
		fmt.Printf("%s: schema already at version %d\n", store.Redact(dsn), to)
	} else {
		fmt.Printf("%s: schema migrated from version %d to %d\n", store.Redact(dsn), from, to)
	}
	return 0
}

const checkHelp = `Usage: gamehall check-settlements --database-url URL [--region NAME]...

Proves the books of each Region in the database (all that have players,
unless --region names some): every stored game's seats sum to zero, and every
player's balance, score, games and wins equal the starting coins plus their
ledger — a game paid twice, or half-paid, shows up here. Prints one line per
Region; the exit status is 1 if any Region's books do not hold.

Flags:
`

func runCheckSettlements(args []string) int {
	fs := pflag.NewFlagSet("check-settlements", pflag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, checkHelp+fs.FlagUsages()) }
	db := addDatabaseFlags(fs, "database to check")
	regions := fs.StringArray("region", nil, "Region to check (repeatable; default: every Region with players)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	dsn, err := db.resolve()
	if err == nil && dsn == "" {
		err = errors.New("--database-url (or --database-url-file) is required")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gamehall check-settlements:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := store.Open(ctx, dsn, store.Options{OpTimeout: time.Minute})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gamehall check-settlements:", err)
		return 1
	}
	defer s.Close()
	names := *regions
	if len(names) == 0 {
		if names, err = s.RegionNames(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "gamehall check-settlements:", err)
			return 1
		}
		if len(names) == 0 {
			fmt.Printf("%s: no Region has players yet\n", store.Redact(dsn))
		}
	}
	code := 0
	for _, r := range names {
		rep, err := s.Check(ctx, r)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gamehall check-settlements: region %s: %v\n", r, err)
			return 1
		}
		fmt.Println(rep)
		if !rep.OK() {
			code = 1
		}
	}
	return code
}

// parseFlags parses args; done is true when the command must return code
// (help asked for, or a bad flag, or stray arguments).
func parseFlags(fs *pflag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0, true
		}
		return 2, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gamehall %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2, true
	}
	return 0, false
}
