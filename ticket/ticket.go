// Package ticket issues and verifies session tickets: expiring JWTs signed
// with Ed25519 (alg EdDSA), naming the account, the session, the audience
// (what the ticket may be used for) and the signing key id.
//
// Only login and the hall hold private keys (a Keyring); shards hold public
// keys only (a KeySet), so nothing a shard holds can mint a ticket. Both
// reload from mounted Secrets without a restart: a key is published for
// verification first, then named active (the file "active" in the signing
// directory), and a key removed from the verification directory is refused
// at the next reload.
package ticket

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// Errors callers tell apart with errors.Is.
var (
	ErrExpired  = errors.New("ticket: expired")
	ErrInvalid  = errors.New("ticket: invalid") // malformed, forged or unknown key
	ErrAudience = errors.New("ticket: wrong audience")
	ErrNoKeys   = errors.New("ticket: no keys")
)

// Audience says what a ticket may be used for (the JWT "aud" claim).
type Audience string

const (
	// AudPlayer is a player's session: the hall's player endpoints and Hello
	// on a shard. A player ticket names no other audience.
	AudPlayer Audience = "player"
	// AudShardRead reads a shard's internal port: the occupancy stream
	// (GET /v1/occupancy) and GET /v1/stats. Halls follow shards with it.
	AudShardRead Audience = "shard.read"
	// AudShardDrain drains a shard (POST /v1/drain on its internal port).
	AudShardDrain Audience = "shard.drain"
	// AudHallOps reads the hall's operator view (GET /v1/ops, /ops).
	AudHallOps Audience = "hall.ops"
)

// ServiceAudiences are the audiences a service ticket may name.
var ServiceAudiences = []Audience{AudShardRead, AudShardDrain, AudHallOps}

// Claims is what a verified ticket says.
type Claims struct {
	Account  string
	Session  string
	Audience []Audience
	KeyID    string
	Expiry   time.Time
}

// Has reports whether the ticket may be used for a.
func (c Claims) Has(a Audience) bool { return slices.Contains(c.Audience, a) }

// Verifier checks a ticket's signature, expiry and audience: the ticket must
// name want among its audiences.
type Verifier interface {
	Verify(token string, want Audience) (Claims, error)
}

// Issuer signs tickets (login and the hall).
type Issuer interface {
	Sign(c Claims, ttl time.Duration) (string, error)
}

// checkAudience says what is wrong with a ticket's audience list: empty, an
// unknown name, or a player audience mixed with service ones.
func checkAudience(aud []Audience) error {
	if len(aud) == 0 {
		return errors.New("no audience")
	}
	for _, a := range aud {
		if a != AudPlayer && !slices.Contains(ServiceAudiences, a) {
			return errors.New("unknown audience " + string(a))
		}
	}
	if slices.Contains(aud, AudPlayer) && len(aud) > 1 {
		return errors.New("a player ticket names no other audience")
	}
	return nil
}

func audString(aud []Audience) string {
	s := make([]string, len(aud))
	for i, a := range aud {
		s[i] = string(a)
	}
	return strings.Join(s, ",")
}
