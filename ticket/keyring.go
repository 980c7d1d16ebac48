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

// Keyring signs with its active private key and verifies with its public
// keys: what login and the hall hold. It is safe for concurrent use.
//
// The active key signs only while its public half is among the verification
// keys: a key is published before it signs. Removing a key from the
// verification set revokes it at once, even the active one (Sign then fails
// until another key is active).
type Keyring struct {
	mu     sync.RWMutex
	priv   map[string]ed25519.PrivateKey
	active string
	pub    map[string]ed25519.PublicKey
	now    func() time.Time
}

var (
	_ Verifier = (*Keyring)(nil)
	_ Issuer   = (*Keyring)(nil)
)

// NewKeyring returns a Keyring signing with priv[active] and verifying with
// the public halves of priv (tests, local mode, tools).
func NewKeyring(priv map[string]ed25519.PrivateKey, active string) (*Keyring, error) {
	pub := map[string]ed25519.PublicKey{}
	for id, k := range priv {
		pub[id] = k.Public().(ed25519.PublicKey)
	}
	return NewKeyringWith(priv, active, pub)
}

// NewKeyringWith returns a Keyring signing with priv[active] and verifying
// with pub; pub must hold the active key's public half.
func NewKeyringWith(priv map[string]ed25519.PrivateKey, active string, pub map[string]ed25519.PublicKey) (*Keyring, error) {
	k := &Keyring{now: time.Now}
	if err := k.Set(priv, active, pub); err != nil {
		return nil, err
	}
	return k, nil
}

// LoadKeyring reads a signing and a verification directory.
func LoadKeyring(signingDir, verificationDir string) (*Keyring, error) {
	priv, active, err := ReadSigningDir(signingDir)
	if err != nil {
		return nil, err
	}
	pub, err := ReadVerificationDir(verificationDir)
	if err != nil {
		return nil, err
	}
	return NewKeyringWith(priv, active, pub)
}

// Set replaces every key. It refuses an active key that is not published
// for verification, or whose published half differs.
func (k *Keyring) Set(priv map[string]ed25519.PrivateKey, active string, pub map[string]ed25519.PublicKey) error {
	p, a, err := checkSigning(priv, active, pub)
	if err != nil {
		return err
	}
	cp, err := copyPublic(pub)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.priv, k.active, k.pub = p, a, cp
	k.mu.Unlock()
	return nil
}

func checkSigning(priv map[string]ed25519.PrivateKey, active string, pub map[string]ed25519.PublicKey) (map[string]ed25519.PrivateKey, string, error) {
	if len(priv) == 0 {
		return nil, "", ErrNoKeys
	}
	cp := make(map[string]ed25519.PrivateKey, len(priv))
	for id, key := range priv {
		if err := checkKeyID(id); err != nil {
			return nil, "", err
		}
		if len(key) != ed25519.PrivateKeySize {
			return nil, "", fmt.Errorf("ticket: key %q is not an Ed25519 private key", id)
		}
		if p, ok := pub[id]; ok && !p.Equal(key.Public()) {
			return nil, "", fmt.Errorf("ticket: key %q: the published public key is not this private key's", id)
		}
		cp[id] = slices.Clone(key)
	}
	if _, ok := cp[active]; !ok {
		return nil, "", fmt.Errorf("ticket: active key %q is not among the signing keys", active)
	}
	if _, ok := pub[active]; !ok {
		return nil, "", fmt.Errorf("ticket: active key %q is not published for verification yet (publish it, wait for every shard to reload, then activate it)", active)
	}
	return cp, active, nil
}

// Reload re-reads both directories. The verification keys are always
// replaced (a revoked key is refused at once); the signing keys only when
// their active key is published, otherwise the old ones stay and the error
// says why. changed says whether the key ids or the active key differ.
func (k *Keyring) Reload(signingDir, verificationDir string) (changed bool, err error) {
	pub, err := ReadVerificationDir(verificationDir)
	if err != nil {
		return false, err
	}
	cpub, err := copyPublic(pub)
	if err != nil {
		return false, err
	}
	beforeIDs, beforeActive := k.KeyIDs()
	priv, active, serr := ReadSigningDir(signingDir)
	var p map[string]ed25519.PrivateKey
	if serr == nil {
		p, active, serr = checkSigning(priv, active, cpub)
	}
	k.mu.Lock()
	k.pub = cpub
	if serr == nil {
		k.priv, k.active = p, active
	}
	k.mu.Unlock()
	ids, nowActive := k.KeyIDs()
	changed = !slices.Equal(beforeIDs, ids) || beforeActive != nowActive
	if serr != nil {
		return changed, fmt.Errorf("signing keys not reloaded: %w", serr)
	}
	return changed, nil
}

// KeyIDs lists the verification key ids, sorted, and the active key id.
func (k *Keyring) KeyIDs() (ids []string, active string) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return slices.Sorted(maps.Keys(k.pub)), k.active
}

func (k *Keyring) key(kid string) ed25519.PublicKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.pub[kid]
}

// Verify checks a ticket as KeySet.Verify does.
func (k *Keyring) Verify(token string, want Audience) (Claims, error) {
	return verify(token, want, k.key, k.now)
}

// Sign issues a ticket for c valid for ttl, signed with the active key.
// c.Audience is required (a player ticket names AudPlayer alone); c.KeyID
// and c.Expiry are filled in by Sign and ignored on input.
func (k *Keyring) Sign(c Claims, ttl time.Duration) (string, error) {
	if c.Account == "" {
		return "", errors.New("ticket: claims need an account")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("ticket: ttl must be positive, got %v", ttl)
	}
	if err := checkAudience(c.Audience); err != nil {
		return "", fmt.Errorf("ticket: %v", err)
	}
	k.mu.RLock()
	id, priv, published := k.active, k.priv[k.active], k.pub[k.active] != nil
	k.mu.RUnlock()
	if priv == nil {
		return "", ErrNoKeys
	}
	if !published {
		return "", fmt.Errorf("ticket: active key %q was removed from the verification keys: activate another", id)
	}
	aud := make(jwt.ClaimStrings, len(c.Audience))
	for i, a := range c.Audience {
		aud[i] = string(a)
	}
	now := k.now()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwtClaims{
		Session: c.Session,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.Account,
			Audience:  aud,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	})
	t.Header["kid"] = id
	return t.SignedString(priv)
}

// Player returns the claims of a player's ticket.
func Player(account, session string) Claims {
	return Claims{Account: account, Session: session, Audience: []Audience{AudPlayer}}
}

// Service returns the claims of a service ticket for account (a hall, the
// operator, a tool) allowed what aud names.
func Service(account string, aud ...Audience) Claims {
	return Claims{Account: account, Audience: aud}
}

// NewRandomKeyring returns a Keyring with one fresh key named kid, active
// (local mode, tests, tools that only need tickets to outlive the process).
func NewRandomKeyring(kid string) (*Keyring, error) {
	k, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	return NewKeyring(map[string]ed25519.PrivateKey{kid: k}, kid)
}

// PublicKey returns the verification key kid (nil if there is none).
func (k *Keyring) PublicKey(kid string) ed25519.PublicKey { return slices.Clone(k.key(kid)) }
