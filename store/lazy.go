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

// Settle settles through the open store (see Regions.Settle).
func (l *Lazy) Settle(ctx context.Context, s Settlement) (Settled, error) {
	st, err := l.Get(ctx)
	if err != nil {
		return Settled{}, err
	}
	return st.Settle(ctx, s)
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
