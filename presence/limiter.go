package presence

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Rate is a token bucket: Burst attempts at once, then one more every Every.
type Rate struct {
	Burst int
	Every time.Duration
}

// LoginLimits are the buckets one password login draws on (see TakeLogin).
type LoginLimits struct {
	// Pair: attempts at one account from one address. Failures here are
	// the guesser's own: they never limit the account from elsewhere.
	Pair Rate
	// Address: attempts from one address at any account (a guesser
	// trying many accounts).
	Address Rate
	// Account: attempts at one account from every address but those that
	// logged into it before (a guesser with many addresses). Past its
	// burst an attempt is slowed — it waits for its token — rather than
	// refused, up to MaxDelay; only past that is it refused.
	Account  Rate
	MaxDelay time.Duration
	// KnownFor is how long a successful login's address stays known to
	// the account (exempt from the Account bucket).
	KnownFor time.Duration
}

// Which bucket refused a login attempt (LoginVerdict.Refused).
const (
	LimitPair    = "pair"
	LimitAddress = "address"
	LimitAccount = "account"
)

// LoginVerdict is TakeLogin's answer.
type LoginVerdict struct {
	// Refused names the bucket that refused ("": the attempt may go on);
	// RetryAfter is when it would not.
	Refused    string
	RetryAfter time.Duration
	// Delay: the attempt goes on after waiting this long (the Account
	// bucket is spent and the attempt took a token it had yet to refill).
	Delay time.Duration
}

// Limiter keeps rate limits in the store, so that every replica sharing it
// enforces one budget. Memory and Redis implement it. Keys are opaque
// strings without "|"; a bucket nobody drew on for its refill time is
// forgotten (and full again).
type Limiter interface {
	// Take takes a token from key's bucket: 0 when it did, else how long
	// until one is free (nothing is taken).
	Take(ctx context.Context, key string, r Rate) (retryAfter time.Duration, err error)
	// TakeLogin takes a password attempt's tokens from its buckets at once,
	// before the password is checked, so parallel attempts cannot exceed
	// them: (account, address) by l.Pair, address by l.Address, and
	// account by l.Account unless address logged into it within
	// l.KnownFor. A refusal takes nothing.
	TakeLogin(ctx context.Context, account, address string, l LoginLimits) (LoginVerdict, error)
	// LoginSucceeded gives a successful attempt's tokens back (the right
	// password is never slowed by its own attempts) and makes address
	// known to account for l.KnownFor.
	LoginSucceeded(ctx context.Context, account, address string, l LoginLimits) error
}

var (
	_ Limiter = (*Memory)(nil)
	_ Limiter = (*Redis)(nil)
)

func (r Rate) validate() error {
	if r.Burst < 1 || r.Every < time.Millisecond {
		return fmt.Errorf("presence: rate %d per %v: want a burst ≥ 1 and a period ≥ 1ms", r.Burst, r.Every)
	}
	return nil
}

// ttl is how long a bucket lasts untouched before it would be full again
// anyway: then it carries no information and may go.
func (r Rate) ttl() time.Duration { return time.Duration(r.Burst)*r.Every + time.Second }

func validateKey(key string) error {
	if key == "" {
		return errors.New("presence: empty limiter key")
	}
	for i := range len(key) {
		if key[i] == '|' {
			return fmt.Errorf("presence: limiter key %q contains '|'", key)
		}
	}
	return nil
}

func (l LoginLimits) validate(account, address string) error {
	return errors.Join(validateKey(account), validateKey(address), l.Pair.validate(), l.Address.validate(),
		l.Account.validate(), func() error {
			if l.MaxDelay < 0 || l.KnownFor < time.Millisecond {
				return fmt.Errorf("presence: login limits: max delay %v, known for %v", l.MaxDelay, l.KnownFor)
			}
			return nil
		}())
}
