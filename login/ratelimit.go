package login

import (
	"sync"
	"time"
)

// failLimiter counts failed logins per key with a token bucket: Burst
// failures are free, then one more per Every. Only failures consume, so a
// player who types the password right is never slowed. Per replica: a
// client spreading guesses over N replicas gets N times the budget, which
// the per-account bucket still bounds to a small rate.
type failLimiter struct {
	burst float64
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds memory under a spray of distinct keys; beyond it full
// buckets (which carry no information) are dropped.
const maxBuckets = 100_000

func newFailLimiter(burst int, every time.Duration) *failLimiter {
	return &failLimiter{burst: float64(burst), every: every, now: time.Now, buckets: map[string]*bucket{}}
}

// refill brings b up to date; l.mu is held.
func (l *failLimiter) refill(b *bucket, now time.Time) {
	b.tokens += float64(now.Sub(b.at)) / float64(l.every)
	if b.tokens > l.burst {
		b.tokens = l.burst
	}
	b.at = now
}

// Blocked returns how long key must wait before its next attempt (0: go).
func (l *failLimiter) Blocked(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return 0
	}
	now := l.now()
	l.refill(b, now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(l.every))
}

// Fail records a failed attempt by key.
func (l *failLimiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	b.tokens--
	if b.tokens < 0 {
		b.tokens = 0
	}
}

func (l *failLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}
