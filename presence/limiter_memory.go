package presence

import (
	"context"
	"maps"
	"time"
)

// maxLimiterKeys bounds the Memory limiter's buckets and known addresses
// under a spray of distinct keys. Past it, buckets that refilled go first
// (they carry nothing); if that is not enough, an arbitrary eighth goes —
// their keys start full again, the price of a bounded table (Redis has no
// such cap: its keys expire).
const maxLimiterKeys = 100_000

type memBucket struct {
	tokens float64
	at     time.Time
	exp    time.Time // full again by then
}

// limiterState is Memory's part for Limiter; guarded by Memory.mu.
type limiterState struct {
	buckets map[string]memBucket
	known   map[string]time.Time // account|address → expiry
}

func (m *Memory) limiter() *limiterState {
	if m.lim.buckets == nil {
		m.lim.buckets = map[string]memBucket{}
		m.lim.known = map[string]time.Time{}
	}
	return &m.lim
}

// bucket returns key's bucket refilled to now.
func (s *limiterState) bucket(key string, r Rate, now time.Time) memBucket {
	b, ok := s.buckets[key]
	if !ok || !now.Before(b.exp) {
		return memBucket{tokens: float64(r.Burst), at: now}
	}
	b.tokens = min(float64(r.Burst), b.tokens+float64(now.Sub(b.at))/float64(r.Every))
	b.at = now
	return b
}

func (s *limiterState) put(key string, b memBucket, r Rate, now time.Time) {
	if _, ok := s.buckets[key]; !ok {
		s.makeRoom(now)
	}
	b.exp = now.Add(time.Duration((float64(r.Burst)-b.tokens)*float64(r.Every)) + time.Second)
	s.buckets[key] = b
}

// dropExpired forgets the buckets and keys whose time has passed.
func (s *limiterState) dropExpired(now time.Time) {
	maps.DeleteFunc(s.buckets, func(_ string, b memBucket) bool { return !now.Before(b.exp) })
	maps.DeleteFunc(s.known, func(_ string, exp time.Time) bool { return !now.Before(exp) })
}

// makeRoom keeps buckets+known under maxLimiterKeys before an insert.
func (s *limiterState) makeRoom(now time.Time) {
	if len(s.buckets)+len(s.known) < maxLimiterKeys {
		return
	}
	s.dropExpired(now)
	n := len(s.buckets) + len(s.known)
	if n < maxLimiterKeys {
		return
	}
	drop := n / 8
	for k := range s.buckets {
		if drop == 0 {
			return
		}
		delete(s.buckets, k)
		drop--
	}
	for k := range s.known {
		if drop == 0 {
			return
		}
		delete(s.known, k)
		drop--
	}
}

// waitFor is how long until b holds a whole token.
func waitFor(b memBucket, r Rate) time.Duration {
	return time.Duration((1 - b.tokens) * float64(r.Every))
}

func (m *Memory) Take(ctx context.Context, key string, r Rate) (time.Duration, error) {
	if err := firstErr(validateKey(key), r.validate()); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return 0, err
	}
	s, now := m.limiter(), m.now()
	key = "t|" + key
	b := s.bucket(key, r, now)
	if b.tokens < 1 {
		return waitFor(b, r), nil
	}
	b.tokens--
	s.put(key, b, r, now)
	return 0, nil
}

func (m *Memory) TakeLogin(ctx context.Context, account, address string, l LoginLimits) (LoginVerdict, error) {
	if err := l.validate(account, address); err != nil {
		return LoginVerdict{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return LoginVerdict{}, err
	}
	s, now := m.limiter(), m.now()
	pk, ak, ck, kk := loginKeys(account, address)
	pair := s.bucket(pk, l.Pair, now)
	if pair.tokens < 1 {
		return LoginVerdict{Refused: LimitPair, RetryAfter: waitFor(pair, l.Pair)}, nil
	}
	addr := s.bucket(ak, l.Address, now)
	if addr.tokens < 1 {
		return LoginVerdict{Refused: LimitAddress, RetryAfter: waitFor(addr, l.Address)}, nil
	}
	var v LoginVerdict
	if exp, ok := s.known[kk]; !ok || !now.Before(exp) {
		acct := s.bucket(ck, l.Account, now)
		if acct.tokens < 1 {
			v.Delay = waitFor(acct, l.Account)
			if v.Delay > l.MaxDelay {
				return LoginVerdict{Refused: LimitAccount, RetryAfter: v.Delay - l.MaxDelay}, nil
			}
		}
		acct.tokens-- // below 0 while attempts wait for tokens to come
		s.put(ck, acct, l.Account, now)
	}
	pair.tokens--
	addr.tokens--
	s.put(pk, pair, l.Pair, now)
	s.put(ak, addr, l.Address, now)
	return v, nil
}

func (m *Memory) LoginSucceeded(ctx context.Context, account, address string, l LoginLimits) error {
	if err := l.validate(account, address); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	s, now := m.limiter(), m.now()
	pk, ak, ck, kk := loginKeys(account, address)
	refund := []struct {
		key string
		r   Rate
	}{{pk, l.Pair}, {ak, l.Address}, {ck, l.Account}}
	if exp, ok := s.known[kk]; ok && now.Before(exp) {
		refund = refund[:2] // a known address took no account token
	}
	for _, kr := range refund {
		if _, ok := s.buckets[kr.key]; !ok {
			continue // full
		}
		b := s.bucket(kr.key, kr.r, now)
		b.tokens = min(float64(kr.r.Burst), b.tokens+1)
		s.put(kr.key, b, kr.r, now)
	}
	if _, ok := s.known[kk]; !ok {
		s.makeRoom(now)
	}
	s.known[kk] = now.Add(l.KnownFor)
	return nil
}

// loginKeys names a login attempt's buckets and its known-address entry
// ("|" appears in no key part, so they cannot collide).
func loginKeys(account, address string) (pair, addr, acct, known string) {
	return "lp|" + account + "|" + address, "la|" + address, "lc|" + account, "lk|" + account + "|" + address
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
