package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// postgres is the Store on PostgreSQL, through a pgx connection pool.
type postgres struct {
	pool *pgxpool.Pool
	dsn  string
	opt  Options
}

func openPostgres(ctx context.Context, dsn string, opt Options) (*postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: database URL %s: %v", ErrInvalid, Redact(dsn), err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = int32(opt.MaxConns)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = opt.OpTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, Redact(dsn), err)
	}
	p := &postgres{pool: pool, dsn: dsn, opt: opt}
	if err := p.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return p, nil
}

func (p *postgres) Kind() string { return "postgres" }
func (p *postgres) Close() error { p.pool.Close(); return nil }

func (p *postgres) Ping(ctx context.Context) error {
	ctx, cancel := opCtx(ctx, p.opt.OpTimeout)
	defer cancel()
	return p.err(p.pool.Ping(ctx))
}

// err classifies a pgx error: the server's own errors (bad SQL, a broken
// constraint) pass through; everything about reaching it is ErrUnavailable.
func (p *postgres) err(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutting down, cannot connect now
			pe.Code == "53300",                                   // too many connections
			pe.Code == "3D000", strings.HasPrefix(pe.Code, "28"): // no such database, refused login: another server at that address
			return fmt.Errorf("%w: %s: %v", ErrUnavailable, Redact(p.dsn), err)
		}
		return fmt.Errorf("store: postgres: %w", err)
	}
	return fmt.Errorf("%w: %s: %v", ErrUnavailable, Redact(p.dsn), err)
}

const pgLockMigrate = 7_120_012 // advisory lock key: one migrator at a time

func (p *postgres) schemaVersion(ctx context.Context) (int, error) {
	ctx, cancel := opCtx(ctx, p.opt.OpTimeout)
	defer cancel()
	var exists bool
	if err := p.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, p.err(err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := p.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, p.err(err)
}

func (p *postgres) migrate(ctx context.Context) (from, to int, err error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return 0, 0, p.err(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgLockMigrate); err != nil {
		return 0, 0, p.err(err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, 0, p.err(err)
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&from); err != nil {
		return 0, 0, p.err(err)
	}
	to = from
	for _, m := range migrationsOf("postgres") {
		if m.version <= from {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return from, to, fmt.Errorf("store: migration %d (%s): %w", m.version, m.name, p.err(err))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return from, to, p.err(err)
		}
		to = m.version
	}
	return from, to, p.err(tx.Commit(ctx))
}

// ---- accounts ----

func (p *postgres) CreateAccount(ctx context.Context, a Account) error {
	ctx, cancel := opCtx(ctx, p.opt.OpTimeout)
	defer cancel()
	tag, err := p.pool.Exec(ctx, `INSERT INTO accounts (name, password_hash, source, disabled) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO NOTHING`, a.Name, a.PasswordHash, string(a.Source), a.Disabled)
	if err != nil {
		return p.err(err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %q", ErrAccountExists, a.Name)
	}
	return nil
}

func (p *postgres) Account(ctx context.Context, name string) (Account, error) {
	ctx, cancel := opCtx(ctx, p.opt.OpTimeout)
	defer cancel()
	a := Account{Name: name}
	var src string
	err := p.pool.QueryRow(ctx, `SELECT password_hash, source, disabled, created_at FROM accounts WHERE name = $1`, name).
		Scan(&a.PasswordHash, &src, &a.Disabled, &a.CreatedAt)
	a.Source = Source(src)
	return a, p.err(err)
}

func (p *postgres) PutAccount(ctx context.Context, a Account) (bool, error) {
	ctx, cancel := opCtx(ctx, p.opt.OpTimeout)
	defer cancel()
	var created bool
	err := p.pool.QueryRow(ctx, `INSERT INTO accounts (name, password_hash, source) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, source = excluded.source, updated_at = now()
		RETURNING xmax = 0`, a.Name, a.PasswordHash, string(a.Source)).Scan(&created)
	return created, p.err(err)
}

func (p *postgres) SetDisabled(ctx context.Context, name string, disabled bool) error {
	ctx, cancel := opCtx(ctx, p.opt.OpTimeout)
	defer cancel()
	tag, err := p.pool.Exec(ctx, `UPDATE accounts SET disabled = $2, updated_at = now() WHERE name = $1`, name, disabled)
	if err != nil {
		return p.err(err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: account %q", ErrNotFound, name)
	}
	return nil
}

func (p *postgres) ClaimGuest(ctx context.Context, name string) (Account, error) {
	a, err := p.Account(ctx, name)
	if !errors.Is(err, ErrNotFound) {
		return a, err
	}
	ctx, cancel := opCtx(ctx, p.opt.OpTimeout)
	defer cancel()
	if _, err := p.pool.Exec(ctx, `INSERT INTO accounts (name, source) VALUES ($1, 'guest') ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return Account{}, p.err(err)
	}
	return p.Account(ctx, name)
}

func (p *postgres) ImportAccounts(ctx context.Context, accts []Account) (ImportResult, error) {
	ctx, cancel := opCtx(ctx, p.opt.OpTimeout)
	defer cancel()
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return ImportResult{}, p.err(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	names := make([]string, len(accts))
	for i, a := range accts {
		names[i] = a.Name
	}
	rows, err := tx.Query(ctx, `SELECT name, source, password_hash FROM accounts WHERE name = ANY($1) FOR UPDATE`, names)
	if err != nil {
		return ImportResult{}, p.err(err)
	}
	existing := map[string]Account{}
	for rows.Next() {
		var a Account
		var src string
		if err := rows.Scan(&a.Name, &src, &a.PasswordHash); err != nil {
			return ImportResult{}, p.err(err)
		}
		a.Source = Source(src)
		existing[a.Name] = a
	}
	if err := rows.Err(); err != nil {
		return ImportResult{}, p.err(err)
	}
	plan := planImport(existing, accts)
	b := &pgx.Batch{}
	for _, a := range plan.add {
		b.Queue(`INSERT INTO accounts (name, password_hash, source) VALUES ($1, $2, 'file')`, a.Name, a.PasswordHash)
	}
	for _, a := range plan.update {
		b.Queue(`UPDATE accounts SET password_hash = $2, updated_at = now() WHERE name = $1`, a.Name, a.PasswordHash)
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return ImportResult{}, p.err(err)
		}
	}
	return plan.result, p.err(tx.Commit(ctx))
}

// ---- regions ----

// pgSettle pays a game in one statement, so one round trip and one implicit
// transaction: the game row goes in first, and only if it was new (ON
// CONFLICT DO NOTHING returned it) are the players paid and the ledger
// written. Players are locked in name order, so concurrent games cannot
// deadlock on them.
const pgSettle = `
WITH new_game AS (
	INSERT INTO games (game_id, region, ended_at, record) VALUES ($1, $2, $3, $4)
	ON CONFLICT (game_id) DO NOTHING
	RETURNING game_id
), seats AS (
	SELECT s.account, s.role, s.delta, s.seat - 1 AS seat
	FROM unnest($5::text[], $6::smallint[], $7::bigint[]) WITH ORDINALITY AS s(account, role, delta, seat)
), paid AS (
	INSERT INTO players AS p (region, account, coins, score, games, wins, landlord_games, landlord_wins, farmer_games, farmer_wins, updated_at)
	SELECT $2, s.account, $8 + s.delta, s.delta, 1, (s.delta > 0)::int,
		(s.role = 1)::int, (s.role = 1 AND s.delta > 0)::int, (s.role = 2)::int, (s.role = 2 AND s.delta > 0)::int, $3
	FROM seats s WHERE EXISTS (SELECT 1 FROM new_game)
	ORDER BY s.account
	ON CONFLICT (region, account) DO UPDATE SET
		coins = p.coins + excluded.score, score = p.score + excluded.score, games = p.games + 1,
		wins = p.wins + excluded.wins, landlord_games = p.landlord_games + excluded.landlord_games,
		landlord_wins = p.landlord_wins + excluded.landlord_wins, farmer_games = p.farmer_games + excluded.farmer_games,
		farmer_wins = p.farmer_wins + excluded.farmer_wins, updated_at = excluded.updated_at
	RETURNING p.account, p.coins
), ledger AS (
	INSERT INTO game_seats (game_id, seat, region, account, role, delta, coins_after)
	SELECT $1, s.seat, $2, s.account, s.role, s.delta, paid.coins FROM seats s JOIN paid USING (account)
	RETURNING seat, coins_after
)
SELECT seat, coins_after FROM ledger ORDER BY seat`

func (p *postgres) Settle(ctx context.Context, s Settlement) (Settled, error) {
	if err := s.Validate(); err != nil {
		return Settled{}, err
	}
	ctx, cancel := opCtx(ctx, p.opt.OpTimeout)
	defer cancel()
	accounts, roles, deltas := seatColumns(s.Seats)
	rows, err := p.pool.Query(ctx, pgSettle, s.GameID, s.Region, s.EndedAt, s.Record, accounts, roles, deltas, int64(StartingCoins))
	if err != nil {
		return Settled{}, p.err(err)
	}
	coins, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (int64, error) {
		var seat int16
		var c int64
		err := r.Scan(&seat, &c)
		return c, err
	})
	if err != nil {
		return Settled{}, p.err(err)
	}
	if len(coins) == len(s.Seats) {
		return Settled{Coins: coins}, nil
	}
	// Settled before: answer what that settlement left.
	g, err := p.Game(ctx, s.GameID)
	if err != nil {
		return Settled{}, err
	}
	if !sameResult(s, g.Seats) {
		return Settled{}, fmt.Errorf("%w: game %s", ErrConflict, s.GameID)
	}
	return Settled{Coins: g.Coins, Replayed: true}, nil
}

func seatColumns(seats []Seat) (accounts []string, roles []int16, deltas []int64) {
	for _, st := range seats {
		accounts = append(accounts, st.Account)
		roles = append(roles, int16(st.Role))
		deltas = append(deltas, st.Delta)
	}
	return
}

const pgProfileColumns = `region, account, coins, score, games, wins, landlord_games, landlord_wins, farmer_games, farmer_wins, updated_at`

func scanProfile(r pgx.Row) (Profile, error) {
	var pr Profile
	err := r.Scan(&pr.Region, &pr.Account, &pr.Coins, &pr.Score, &pr.Games, &pr.Wins,
		&pr.LandlordGames, &pr.LandlordWins, &pr.FarmerGames, &pr.FarmerWins, &pr.UpdatedAt)
	return pr, err
}

func (p *postgres) Profile(ctx context.Context, region, account string) (Profile, error) {
	ctx, cancel := opCtx(ctx, p.opt.OpTimeout)
	defer cancel()
	pr, err := scanProfile(p.pool.QueryRow(ctx, `SELECT `+pgProfileColumns+` FROM players WHERE region = $1 AND account = $2`, region, account))
	return pr, p.err(err)
}

func (p *postgres) Leaderboard(ctx context.Context, region string, offset, limit int) ([]Profile, error) {
	ctx, cancel := opCtx(ctx, p.opt.OpTimeout)
	defer cancel()
	rows, err := p.pool.Query(ctx, `SELECT `+pgProfileColumns+` FROM players WHERE region = $1
		ORDER BY score DESC, account LIMIT $2 OFFSET $3`, region, limit, offset)
	if err != nil {
		return nil, p.err(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Profile, error) { return scanProfile(r) })
	return out, p.err(err)
}

func (p *postgres) ScoreCounts(ctx context.Context, region string) ([]ScoreCount, error) {
	ctx, cancel := opCtx(ctx, p.opt.OpTimeout)
	defer cancel()
	rows, err := p.pool.Query(ctx, `SELECT score, count(*) FROM players WHERE region = $1 GROUP BY score ORDER BY score DESC`, region)
	if err != nil {
		return nil, p.err(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ScoreCount, error) {
		var c ScoreCount
		return c, r.Scan(&c.Score, &c.Players)
	})
	return out, p.err(err)
}

func (p *postgres) Game(ctx context.Context, id string) (Game, error) {
	ctx, cancel := opCtx(ctx, p.opt.OpTimeout)
	defer cancel()
	g := Game{GameID: id}
	if err := p.pool.QueryRow(ctx, `SELECT region, ended_at, record FROM games WHERE game_id = $1`, id).
		Scan(&g.Region, &g.EndedAt, &g.Record); err != nil {
		return Game{}, p.err(err)
	}
	rows, err := p.pool.Query(ctx, `SELECT account, role, delta, coins_after FROM game_seats WHERE game_id = $1 ORDER BY seat`, id)
	if err != nil {
		return Game{}, p.err(err)
	}
	defer rows.Close()
	for rows.Next() {
		var st Seat
		var role int16
		var c int64
		if err := rows.Scan(&st.Account, &role, &st.Delta, &c); err != nil {
			return Game{}, p.err(err)
		}
		st.Role = Role(role)
		g.Seats, g.Coins = append(g.Seats, st), append(g.Coins, c)
	}
	return g, p.err(rows.Err())
}

func (p *postgres) Check(ctx context.Context, region string) (CheckReport, error) {
	ctx, cancel := opCtx(ctx, 10*p.opt.OpTimeout) // reads the whole region
	defer cancel()
	r := CheckReport{Region: region}
	q := func(sql string, list *[]string, count *int64, args ...any) error {
		rows, err := p.pool.Query(ctx, sql, args...)
		if err != nil {
			return p.err(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return p.err(err)
			}
			if *count++; len(*list) < maxListed {
				*list = append(*list, id)
			}
		}
		return p.err(rows.Err())
	}
	if err := q(checkGames, &r.NotZeroSum, &r.NotZeroSumCount, region); err != nil {
		return r, err
	}
	if err := q(checkBalances, &r.Unbalanced, &r.UnbalancedCount, region, int64(StartingCoins)); err != nil {
		return r, err
	}
	err := p.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM games WHERE region = $1), (SELECT count(*) FROM players WHERE region = $1)`, region).
		Scan(&r.Games, &r.Players)
	return r, p.err(err)
}

func (p *postgres) RegionNames(ctx context.Context) ([]string, error) {
	ctx, cancel := opCtx(ctx, p.opt.OpTimeout)
	defer cancel()
	rows, err := p.pool.Query(ctx, regionNames)
	if err != nil {
		return nil, p.err(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, p.err(err)
}
