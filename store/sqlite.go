package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteDB is the Store in one SQLite file (pure Go): the embedded default of
// `gamehall local`. One connection serves every call in turn, so writers
// never meet SQLITE_BUSY inside the process; WAL keeps readers of other
// processes (`gamehall account`) off the writer's way.
type sqliteDB struct {
	db   *sql.DB
	path string
	opt  Options
}

func openSQLite(ctx context.Context, dsn string, opt Options) (*sqliteDB, error) {
	path, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok {
		path = strings.TrimPrefix(dsn, "file:")
	}
	path, _, _ = strings.Cut(path, "?")
	path = strings.TrimPrefix(path, "//")
	if path == "" {
		return nil, fmt.Errorf("%w: %q names no file", ErrInvalid, dsn)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	// synchronous(NORMAL) in WAL mode: a committed game survives the
	// process being killed; only a power cut may lose the last commits.
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate"+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	s := &sqliteDB{db: db, path: path, opt: opt}
	if err := s.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *sqliteDB) Kind() string { return "sqlite" }
func (s *sqliteDB) Close() error { return s.db.Close() }

func (s *sqliteDB) Ping(ctx context.Context) error {
	ctx, cancel := opCtx(ctx, s.opt.OpTimeout)
	defer cancel()
	return s.err(s.db.PingContext(ctx))
}

// err classifies SQLite errors: a busy or locked file, or a timeout, is
// ErrUnavailable; the rest passes through.
func (s *sqliteDB) err(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL:
			return fmt.Errorf("%w: sqlite %s: %v", ErrUnavailable, s.path, err)
		}
		return fmt.Errorf("store: sqlite %s: %w", s.path, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("%w: sqlite %s: %v", ErrUnavailable, s.path, err)
	}
	return fmt.Errorf("store: sqlite %s: %w", s.path, err)
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE).
func (s *sqliteDB) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	ctx, cancel := opCtx(ctx, s.opt.OpTimeout)
	defer cancel()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.err(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return s.err(tx.Commit())
}

func (s *sqliteDB) schemaVersion(ctx context.Context) (int, error) {
	ctx, cancel := opCtx(ctx, s.opt.OpTimeout)
	defer cancel()
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return 0, s.err(err)
	}
	if n == 0 {
		return 0, nil
	}
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, s.err(err)
}

func (s *sqliteDB) migrate(ctx context.Context) (from, to int, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY, name text NOT NULL, applied_at integer NOT NULL)`); err != nil {
			return s.err(err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&from); err != nil {
			return s.err(err)
		}
		to = from
		for _, m := range migrationsOf("sqlite") {
			if m.version <= from {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("store: migration %d (%s): %w", m.version, m.name, s.err(err))
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)`,
				m.version, m.name, time.Now().UnixMilli()); err != nil {
				return s.err(err)
			}
			to = m.version
		}
		return nil
	})
	return from, to, err
}

func ms(t time.Time) int64        { return t.UnixMilli() }
func fromMS(v int64) time.Time    { return time.UnixMilli(v).UTC() }
func boolInt(b bool) int          { return map[bool]int{false: 0, true: 1}[b] }
func sqliteQuery(q string) string { return strings.ReplaceAll(q, "$", "?") }

// ---- accounts ----

func (s *sqliteDB) CreateAccount(ctx context.Context, a Account) error {
	ctx, cancel := opCtx(ctx, s.opt.OpTimeout)
	defer cancel()
	now := ms(time.Now())
	res, err := s.db.ExecContext(ctx, `INSERT INTO accounts (name, password_hash, source, disabled, created_at, updated_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (name) DO NOTHING`, a.Name, a.PasswordHash, string(a.Source), boolInt(a.Disabled), now)
	if err != nil {
		return s.err(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %q", ErrAccountExists, a.Name)
	}
	return nil
}

func (s *sqliteDB) Account(ctx context.Context, name string) (Account, error) {
	ctx, cancel := opCtx(ctx, s.opt.OpTimeout)
	defer cancel()
	a := Account{Name: name}
	var src string
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT password_hash, source, disabled, created_at FROM accounts WHERE name = ?1`, name).
		Scan(&a.PasswordHash, &src, &a.Disabled, &created)
	a.Source, a.CreatedAt = Source(src), fromMS(created)
	return a, s.err(err)
}

func (s *sqliteDB) PutAccount(ctx context.Context, a Account) (created bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM accounts WHERE name = ?1`, a.Name).Scan(&n); err != nil {
			return s.err(err)
		}
		created = n == 0
		now := ms(time.Now())
		_, err := tx.ExecContext(ctx, `INSERT INTO accounts (name, password_hash, source, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
			ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, source = excluded.source, updated_at = excluded.updated_at`,
			a.Name, a.PasswordHash, string(a.Source), now)
		return s.err(err)
	})
	return created, err
}

func (s *sqliteDB) SetDisabled(ctx context.Context, name string, disabled bool) error {
	ctx, cancel := opCtx(ctx, s.opt.OpTimeout)
	defer cancel()
	res, err := s.db.ExecContext(ctx, `UPDATE accounts SET disabled = ?2, updated_at = ?3 WHERE name = ?1`, name, boolInt(disabled), ms(time.Now()))
	if err != nil {
		return s.err(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: account %q", ErrNotFound, name)
	}
	return nil
}

func (s *sqliteDB) ClaimGuest(ctx context.Context, name string) (Account, error) {
	a, err := s.Account(ctx, name)
	if !errors.Is(err, ErrNotFound) {
		return a, err
	}
	ctx, cancel := opCtx(ctx, s.opt.OpTimeout)
	defer cancel()
	now := ms(time.Now())
	if _, err := s.db.ExecContext(ctx, `INSERT INTO accounts (name, source, created_at, updated_at) VALUES (?1, 'guest', ?2, ?2)
		ON CONFLICT (name) DO NOTHING`, name, now); err != nil {
		return Account{}, s.err(err)
	}
	return s.Account(ctx, name)
}

func (s *sqliteDB) ImportAccounts(ctx context.Context, accts []Account) (ImportResult, error) {
	var plan importPlan
	err := s.tx(ctx, func(tx *sql.Tx) error {
		existing := map[string]Account{}
		for _, a := range accts {
			var old Account
			var src string
			err := tx.QueryRowContext(ctx, `SELECT source, password_hash FROM accounts WHERE name = ?1`, a.Name).Scan(&src, &old.PasswordHash)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return s.err(err)
			}
			old.Name, old.Source = a.Name, Source(src)
			existing[a.Name] = old
		}
		plan = planImport(existing, accts)
		now := ms(time.Now())
		for _, a := range plan.add {
			if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (name, password_hash, source, created_at, updated_at) VALUES (?1, ?2, 'file', ?3, ?3)`,
				a.Name, a.PasswordHash, now); err != nil {
				return s.err(err)
			}
		}
		for _, a := range plan.update {
			if _, err := tx.ExecContext(ctx, `UPDATE accounts SET password_hash = ?2, updated_at = ?3 WHERE name = ?1`, a.Name, a.PasswordHash, now); err != nil {
				return s.err(err)
			}
		}
		return nil
	})
	return plan.result, err
}

// ---- regions ----

func (s *sqliteDB) Settle(ctx context.Context, st Settlement) (Settled, error) {
	if err := st.Validate(); err != nil {
		return Settled{}, err
	}
	var out Settled
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO games (game_id, region, ended_at, record) VALUES (?1, ?2, ?3, ?4)
			ON CONFLICT (game_id) DO NOTHING`, st.GameID, st.Region, ms(st.EndedAt), st.Record)
		if err != nil {
			return s.err(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			out.Replayed = true
			return nil
		}
		for i, seat := range st.Seats {
			w := boolInt(seat.win())
			ll, fa := boolInt(seat.Role == RoleLandlord), boolInt(seat.Role == RoleFarmer)
			var coins int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO players (region, account, coins, score, games, wins,
					landlord_games, landlord_wins, farmer_games, farmer_wins, updated_at)
				VALUES (?1, ?2, ?3 + ?4, ?4, 1, ?5, ?6, ?6 * ?5, ?7, ?7 * ?5, ?8)
				ON CONFLICT (region, account) DO UPDATE SET
					coins = coins + excluded.score, score = score + excluded.score, games = games + 1, wins = wins + excluded.wins,
					landlord_games = landlord_games + excluded.landlord_games, landlord_wins = landlord_wins + excluded.landlord_wins,
					farmer_games = farmer_games + excluded.farmer_games, farmer_wins = farmer_wins + excluded.farmer_wins,
					updated_at = excluded.updated_at
				RETURNING coins`,
				st.Region, seat.Account, int64(StartingCoins), seat.Delta, w, ll, fa, ms(st.EndedAt)).Scan(&coins); err != nil {
				return s.err(err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO game_seats (game_id, seat, region, account, role, delta, coins_after)
				VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)`, st.GameID, i, st.Region, seat.Account, int(seat.Role), seat.Delta, coins); err != nil {
				return s.err(err)
			}
			out.Coins = append(out.Coins, coins)
		}
		return nil
	})
	if err != nil || !out.Replayed {
		return out, err
	}
	g, err := s.Game(ctx, st.GameID)
	if err != nil {
		return Settled{}, err
	}
	if !sameResult(st, g.Seats) {
		return Settled{}, fmt.Errorf("%w: game %s", ErrConflict, st.GameID)
	}
	return Settled{Coins: g.Coins, Replayed: true}, nil
}

const sqliteProfileColumns = `region, account, coins, score, games, wins, landlord_games, landlord_wins, farmer_games, farmer_wins, updated_at`

func scanSQLiteProfile(r interface{ Scan(...any) error }) (Profile, error) {
	var pr Profile
	var at int64
	err := r.Scan(&pr.Region, &pr.Account, &pr.Coins, &pr.Score, &pr.Games, &pr.Wins,
		&pr.LandlordGames, &pr.LandlordWins, &pr.FarmerGames, &pr.FarmerWins, &at)
	pr.UpdatedAt = fromMS(at)
	return pr, err
}

func (s *sqliteDB) Profile(ctx context.Context, region, account string) (Profile, error) {
	ctx, cancel := opCtx(ctx, s.opt.OpTimeout)
	defer cancel()
	pr, err := scanSQLiteProfile(s.db.QueryRowContext(ctx, `SELECT `+sqliteProfileColumns+` FROM players WHERE region = ?1 AND account = ?2`, region, account))
	return pr, s.err(err)
}

func (s *sqliteDB) Leaderboard(ctx context.Context, region string, offset, limit int) ([]Profile, error) {
	ctx, cancel := opCtx(ctx, s.opt.OpTimeout)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, `SELECT `+sqliteProfileColumns+` FROM players WHERE region = ?1
		ORDER BY score DESC, account LIMIT ?2 OFFSET ?3`, region, limit, offset)
	if err != nil {
		return nil, s.err(err)
	}
	defer rows.Close()
	var out []Profile
	for rows.Next() {
		pr, err := scanSQLiteProfile(rows)
		if err != nil {
			return nil, s.err(err)
		}
		out = append(out, pr)
	}
	return out, s.err(rows.Err())
}

func (s *sqliteDB) ScoreCounts(ctx context.Context, region string) ([]ScoreCount, error) {
	ctx, cancel := opCtx(ctx, s.opt.OpTimeout)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, `SELECT score, count(*) FROM players WHERE region = ?1 GROUP BY score ORDER BY score DESC`, region)
	if err != nil {
		return nil, s.err(err)
	}
	defer rows.Close()
	var out []ScoreCount
	for rows.Next() {
		var c ScoreCount
		if err := rows.Scan(&c.Score, &c.Players); err != nil {
			return nil, s.err(err)
		}
		out = append(out, c)
	}
	return out, s.err(rows.Err())
}

func (s *sqliteDB) Game(ctx context.Context, id string) (Game, error) {
	ctx, cancel := opCtx(ctx, s.opt.OpTimeout)
	defer cancel()
	g := Game{GameID: id}
	var ended int64
	if err := s.db.QueryRowContext(ctx, `SELECT region, ended_at, record FROM games WHERE game_id = ?1`, id).
		Scan(&g.Region, &ended, &g.Record); err != nil {
		return Game{}, s.err(err)
	}
	g.EndedAt = fromMS(ended)
	rows, err := s.db.QueryContext(ctx, `SELECT account, role, delta, coins_after FROM game_seats WHERE game_id = ?1 ORDER BY seat`, id)
	if err != nil {
		return Game{}, s.err(err)
	}
	defer rows.Close()
	for rows.Next() {
		var st Seat
		var c int64
		if err := rows.Scan(&st.Account, &st.Role, &st.Delta, &c); err != nil {
			return Game{}, s.err(err)
		}
		g.Seats, g.Coins = append(g.Seats, st), append(g.Coins, c)
	}
	return g, s.err(rows.Err())
}

func (s *sqliteDB) Check(ctx context.Context, region string) (CheckReport, error) {
	ctx, cancel := opCtx(ctx, 10*s.opt.OpTimeout)
	defer cancel()
	r := CheckReport{Region: region}
	q := func(query string, list *[]string, count *int64, args ...any) error {
		rows, err := s.db.QueryContext(ctx, sqliteQuery(query), args...)
		if err != nil {
			return s.err(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return s.err(err)
			}
			if *count++; len(*list) < maxListed {
				*list = append(*list, id)
			}
		}
		return s.err(rows.Err())
	}
	if err := q(checkGames, &r.NotZeroSum, &r.NotZeroSumCount, region); err != nil {
		return r, err
	}
	if err := q(checkBalances, &r.Unbalanced, &r.UnbalancedCount, region, int64(StartingCoins)); err != nil {
		return r, err
	}
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM games WHERE region = ?1), (SELECT count(*) FROM players WHERE region = ?1)`, region).
		Scan(&r.Games, &r.Players)
	return r, s.err(err)
}

func (s *sqliteDB) RegionNames(ctx context.Context) ([]string, error) {
	ctx, cancel := opCtx(ctx, s.opt.OpTimeout)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, regionNames)
	if err != nil {
		return nil, s.err(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, s.err(err)
		}
		out = append(out, r)
	}
	return out, s.err(rows.Err())
}
