package hall

import "sync"

// CodeTooManyWatchers: the account holds the most watch streams one
// account may on this replica (429).
const CodeTooManyWatchers = "TOO_MANY_WATCHERS"

// accountWatchers counts each account's open watch streams on this replica.
type accountWatchers struct {
	mu sync.Mutex
	n  map[string]int
}

// take counts one more stream for account unless it holds max already.
func (a *accountWatchers) take(account string, max int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == nil {
		a.n = map[string]int{}
	}
	if a.n[account] >= max {
		return false
	}
	a.n[account]++
	return true
}

// give counts one stream of account less.
func (a *accountWatchers) give(account string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n[account] <= 1 {
		delete(a.n, account)
		return
	}
	a.n[account]--
}
