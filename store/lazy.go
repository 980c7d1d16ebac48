package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Lazy opens its database on first use, and again after a failed open, so a
// program can start while its database is down: until the database answers,
// calls get the open's error (ErrUnavailable, or ErrSchema until someone runs
// `gamehall migrate`).
type Lazy struct {
	dsn string
	opt Options

	mu      sync.Mutex
	s       Store
	tried   time.Time
	lastErr error
}

// reopenEvery spaces the attempts to open: callers fail fast in between.
const reopenEvery = time.Second

// NewLazy returns a Lazy for dsn; nothing is opened yet.
func NewLazy(dsn string, opt Options) *Lazy { return &Lazy{dsn: dsn, opt: opt} }

// Get returns the open store, opening it if needed.
func (l *Lazy) Get(ctx context.Context) (Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s != nil {
		return l.s, nil
	}
	if l.lastErr != nil && time.Since(l.tried) < reopenEvery {
		return nil, l.lastErr
	}
	l.tried = time.Now()
	l.s, l.lastErr = Open(ctx, l.dsn, l.opt)
	if l.lastErr != nil && errors.Is(l.lastErr, context.Canceled) {
		l.tried = time.Time{} // the caller gave up; the next one tries at once
	}
	return l.s, l.lastErr
}

// Lazy is an Accounts and a Regions: each call opens the database first if
// it must, and fails with the open's error while it cannot.
var (
	_ Accounts = (*Lazy)(nil)
	_ Regions  = (*Lazy)(nil)
)

// call runs f on the open store.
func call[T any](l *Lazy, ctx context.Context, f func(Store) (T, error)) (T, error) {
	st, err := l.Get(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	return f(st)
}

func (l *Lazy) Settle(ctx context.Context, s Settlement) (Settled, error) {
	return call(l, ctx, func(st Store) (Settled, error) { return st.Settle(ctx, s) })
}

func (l *Lazy) Profile(ctx context.Context, region, account string) (Profile, error) {
	return call(l, ctx, func(st Store) (Profile, error) { return st.Profile(ctx, region, account) })
}

func (l *Lazy) Leaderboard(ctx context.Context, region string, offset, limit int) ([]Profile, error) {
	return call(l, ctx, func(st Store) ([]Profile, error) { return st.Leaderboard(ctx, region, offset, limit) })
}

func (l *Lazy) ScoreCounts(ctx context.Context, region string) ([]ScoreCount, error) {
	return call(l, ctx, func(st Store) ([]ScoreCount, error) { return st.ScoreCounts(ctx, region) })
}

func (l *Lazy) Game(ctx context.Context, id string) (Game, error) {
	return call(l, ctx, func(st Store) (Game, error) { return st.Game(ctx, id) })
}

func (l *Lazy) Check(ctx context.Context, region string) (CheckReport, error) {
	return call(l, ctx, func(st Store) (CheckReport, error) { return st.Check(ctx, region) })
}

func (l *Lazy) RegionNames(ctx context.Context) ([]string, error) {
	return call(l, ctx, func(st Store) ([]string, error) { return st.RegionNames(ctx) })
}

func (l *Lazy) CreateAccount(ctx context.Context, a Account) error {
	_, err := call(l, ctx, func(st Store) (struct{}, error) { return struct{}{}, st.CreateAccount(ctx, a) })
	return err
}

func (l *Lazy) Account(ctx context.Context, name string) (Account, error) {
	return call(l, ctx, func(st Store) (Account, error) { return st.Account(ctx, name) })
}

func (l *Lazy) PutAccount(ctx context.Context, a Account) (bool, error) {
	return call(l, ctx, func(st Store) (bool, error) { return st.PutAccount(ctx, a) })
}

func (l *Lazy) SetDisabled(ctx context.Context, name string, disabled bool) error {
	_, err := call(l, ctx, func(st Store) (struct{}, error) { return struct{}{}, st.SetDisabled(ctx, name, disabled) })
	return err
}

func (l *Lazy) ClaimGuest(ctx context.Context, name string) (Account, error) {
	return call(l, ctx, func(st Store) (Account, error) { return st.ClaimGuest(ctx, name) })
}

func (l *Lazy) ImportAccounts(ctx context.Context, accts []Account) (ImportResult, error) {
	return call(l, ctx, func(st Store) (ImportResult, error) { return st.ImportAccounts(ctx, accts) })
}

// Ping checks that the database opens and answers.
func (l *Lazy) Ping(ctx context.Context) error {
	_, err := call(l, ctx, func(st Store) (struct{}, error) { return struct{}{}, st.Ping(ctx) })
	return err
}

// Close closes the store if it was opened.
func (l *Lazy) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s == nil {
		return nil
	}
	err := l.s.Close()
	l.s = nil
	return err
}
