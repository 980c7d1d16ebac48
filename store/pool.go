package store

import "sync"

// Pool opens databases by URL on first use and shares each among its users:
// Regions that name the same database get one connection pool. Opening is
// lazy and retried (see Lazy), so a database that is down delays only the
// requests that need it.
type Pool struct {
	opt Options
	mu  sync.Mutex
	dbs map[string]*Lazy
}

// NewPool returns an empty pool; opt applies to every database.
func NewPool(opt Options) *Pool { return &Pool{opt: opt, dbs: map[string]*Lazy{}} }

// Get returns the database at dsn, opened on first use.
func (p *Pool) Get(dsn string) *Lazy {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.dbs[dsn]
	if l == nil {
		l = NewLazy(dsn, p.opt)
		p.dbs[dsn] = l
	}
	return l
}

// Close closes every database opened.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for dsn, l := range p.dbs {
		l.Close()
		delete(p.dbs, dsn)
	}
}
