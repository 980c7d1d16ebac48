package ticket

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Leeway tolerates clock skew between the login replica that signed a
// ticket and the process that verifies it.
const Leeway = 5 * time.Second

// jwtClaims is the wire form of Claims: sub = account, sid = session,
// aud = the audiences.
type jwtClaims struct {
	Session string `json:"sid,omitempty"`
	jwt.RegisteredClaims
}

// KeySet verifies tickets with public keys only: what a shard holds. It is
// safe for concurrent use; Set and Reload replace the keys atomically.
type KeySet struct {
	mu   sync.RWMutex
	keys map[string]ed25519.PublicKey
	now  func() time.Time
}

var _ Verifier = (*KeySet)(nil)

// NewKeySet returns a KeySet accepting tickets signed by keys (key id →
// public key).
func NewKeySet(keys map[string]ed25519.PublicKey) (*KeySet, error) {
	s := &KeySet{now: time.Now}
	if err := s.Set(keys); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadKeySet reads a verification directory (see ReadVerificationDir).
func LoadKeySet(dir string) (*KeySet, error) {
	keys, err := ReadVerificationDir(dir)
	if err != nil {
		return nil, err
	}
	return NewKeySet(keys)
}

// Set replaces the keys: a key left out is refused from now on.
func (s *KeySet) Set(keys map[string]ed25519.PublicKey) error {
	cp, err := copyPublic(keys)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.keys = cp
	s.mu.Unlock()
	return nil
}

// Reload re-reads dir and replaces the keys; changed says whether the key
// ids differ. On error the old keys stay in force, so a half-written Secret
// update loses nothing.
func (s *KeySet) Reload(dir string) (changed bool, err error) {
	keys, err := ReadVerificationDir(dir)
	if err != nil {
		return false, err
	}
	before := s.KeyIDs()
	if err := s.Set(keys); err != nil {
		return false, err
	}
	return !slices.Equal(before, s.KeyIDs()), nil
}

// KeyIDs lists the key ids accepted, sorted.
func (s *KeySet) KeyIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.keys))
}

func (s *KeySet) key(kid string) ed25519.PublicKey {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keys[kid]
}

// Verify checks the signature (with the key named by the ticket's kid), the
// expiry and that the ticket names want. Errors wrap ErrExpired,
// ErrAudience or ErrInvalid and say what is wrong.
func (s *KeySet) Verify(token string, want Audience) (Claims, error) {
	return verify(token, want, s.key, s.now)
}

func copyPublic(keys map[string]ed25519.PublicKey) (map[string]ed25519.PublicKey, error) {
	if len(keys) == 0 {
		return nil, ErrNoKeys
	}
	cp := make(map[string]ed25519.PublicKey, len(keys))
	for id, k := range keys {
		if err := checkKeyID(id); err != nil {
			return nil, err
		}
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("ticket: key %q is %d bytes, not an Ed25519 public key", id, len(k))
		}
		cp[id] = slices.Clone(k)
	}
	return cp, nil
}

func verify(token string, want Audience, key func(string) ed25519.PublicKey, now func() time.Time) (Claims, error) {
	if token == "" {
		return Claims{}, fmt.Errorf("%w: empty ticket", ErrInvalid)
	}
	if want == "" {
		return Claims{}, fmt.Errorf("%w: the verifier names no audience", ErrAudience)
	}
	var kid string
	var wc jwtClaims
	_, err := jwt.ParseWithClaims(token, &wc, func(t *jwt.Token) (any, error) {
		id, _ := t.Header["kid"].(string)
		if id == "" {
			return nil, errors.New("no key id (kid) in header")
		}
		k := key(id)
		if k == nil {
			return nil, fmt.Errorf("unknown or revoked key id %q", id)
		}
		kid = id
		return k, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(now),
	)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		exp := time.Time{}
		if wc.ExpiresAt != nil {
			exp = wc.ExpiresAt.Time
		}
		return Claims{}, fmt.Errorf("%w: ticket expired at %s", ErrExpired, exp.UTC().Format(time.RFC3339))
	default:
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if wc.Subject == "" {
		return Claims{}, fmt.Errorf("%w: no account (sub)", ErrInvalid)
	}
	aud := make([]Audience, len(wc.Audience))
	for i, a := range wc.Audience {
		aud[i] = Audience(a)
	}
	if err := checkAudience(aud); err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c := Claims{Account: wc.Subject, Session: wc.Session, Audience: aud, KeyID: kid, Expiry: wc.ExpiresAt.Time}
	if !c.Has(want) {
		return Claims{}, fmt.Errorf("%w: the ticket is for %s, not %s", ErrAudience, audString(aud), want)
	}
	return c, nil
}
