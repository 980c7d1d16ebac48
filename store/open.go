package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Options of Open.
type Options struct {
	// Migrate applies missing migrations at open (local mode). Otherwise a
	// database behind this program's schema is ErrSchema, naming the
	// command that fixes it.
	Migrate bool
	// MaxConns bounds PostgreSQL connections (default 8); SQLite uses one.
	MaxConns int
	// OpTimeout bounds each operation that the caller's context does not
	// bound already (default 5s): a database that hangs answers
	// ErrUnavailable instead of holding requests forever.
	OpTimeout time.Duration
}

func (o *Options) defaults() {
	if o.MaxConns <= 0 {
		o.MaxConns = 8
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 5 * time.Second
	}
}

// Open connects to the database at dsn: "postgres://…" (or "postgresql://")
// for PostgreSQL, "sqlite:PATH" (or "file:PATH") for an SQLite file, created
// if missing.
func Open(ctx context.Context, dsn string, opt Options) (Store, error) {
	opt.defaults()
	s, err := connect(ctx, dsn, opt)
	if err != nil {
		return nil, err
	}
	have, err := s.schemaVersion(ctx)
	if err == nil && have < latestVersion() {
		if opt.Migrate {
			_, _, err = s.migrate(ctx)
		} else {
			err = fmt.Errorf("%w: %s is at schema version %d, this program needs %d: run `gamehall migrate --database-url URL`",
				ErrSchema, Redact(dsn), have, latestVersion())
		}
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Migrate brings the database at dsn to this program's schema and reports
// the versions before and after. Safe to run from several processes at once.
func Migrate(ctx context.Context, dsn string) (from, to int, err error) {
	s, err := connect(ctx, dsn, Options{MaxConns: 1, OpTimeout: time.Minute})
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	return s.migrate(ctx)
}

func connect(ctx context.Context, dsn string, opt Options) (migratable, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, opt)
	case strings.HasPrefix(dsn, "sqlite:"), strings.HasPrefix(dsn, "file:"):
		return openSQLite(ctx, dsn, opt)
	}
	return nil, fmt.Errorf("%w: database URL %q: want postgres://… or sqlite:PATH", ErrInvalid, Redact(dsn))
}

// migratable is what both implementations add to Store for Open.
type migratable interface {
	Store
	schemaVersion(ctx context.Context) (int, error)
	migrate(ctx context.Context) (from, to int, err error)
}

//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrationsOf lists a dialect's migrations (files NNNN_name.sql), oldest first.
func migrationsOf(dialect string) []migration {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		panic(fmt.Sprintf("store: embedded migrations %s: %v", dir, err))
	}
	var out []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			panic(fmt.Sprintf("store: migration file %s: want NNNN_name.sql", e.Name()))
		}
		b, err := migrationFiles.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			panic(err)
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			panic(fmt.Sprintf("store: migrations of %s: version %d where %d was expected", dialect, m.version, i+1))
		}
	}
	return out
}

// latestVersion is the schema version this program needs; both dialects
// have the same migrations.
func latestVersion() int { return len(migrationsOf("postgres")) }

// Redact hides the password of a database URL, for logs and errors.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// opCtx bounds an operation by the store's timeout unless ctx ends sooner.
func opCtx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
