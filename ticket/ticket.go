// Package ticket issues and verifies session tickets: signed, expiring JWTs
// (HS256) naming the account, the session and the signing key id. Login signs
// with the newest key; verifiers accept every key still configured, so a key
// can be rotated by adding the new one first and removing the old one later.
package ticket

import (
	"errors"
	"time"
)

// Errors callers tell apart with errors.Is.
var (
	ErrExpired = errors.New("ticket: expired")
	ErrInvalid = errors.New("ticket: invalid") // malformed, forged or unknown key
	ErrNoKeys  = errors.New("ticket: no signing keys")
)

// Role says who holds a ticket.
type Role string

const (
	RolePlayer  Role = "player"
	RoleService Role = "service" // a hall following a shard's occupancy stream
)

// Claims is what a verified ticket says.
type Claims struct {
	Account string
	Session string
	Role    Role
	KeyID   string
	Expiry  time.Time
}

// Verifier checks a ticket's signature and expiry.
type Verifier interface {
	Verify(token string) (Claims, error)
}
