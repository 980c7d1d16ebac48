package ticket

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinKeyLen is the shortest HMAC key accepted: HS256 keys shorter than the
// hash output weaken the signature.
const MinKeyLen = 32

// Leeway tolerates clock skew between the login replica that signed a
// ticket and the process that verifies it.
const Leeway = 5 * time.Second

// jwtClaims is the wire form of Claims: sub = account, sid = session.
type jwtClaims struct {
	Session string `json:"sid"`
	Role    Role   `json:"role"`
	jwt.RegisteredClaims
}

// Keyring signs with its newest key and verifies with any key it holds. It
// is safe for concurrent use; Set replaces the keys atomically (rotation).
type Keyring struct {
	mu     sync.RWMutex
	keys   map[string][]byte
	newest string
	now    func() time.Time
}

var _ Verifier = (*Keyring)(nil)

// NewKeyring returns a Keyring holding keys (key id → secret) that signs with
// newest. newest "" picks the lexically greatest key id.
func NewKeyring(keys map[string][]byte, newest string) (*Keyring, error) {
	k := &Keyring{now: time.Now}
	if err := k.Set(keys, newest); err != nil {
		return nil, err
	}
	return k, nil
}

// Set replaces the keys. Verification accepts exactly these keys afterwards,
// so a removed key stops being accepted at once.
func (k *Keyring) Set(keys map[string][]byte, newest string) error {
	if len(keys) == 0 {
		return ErrNoKeys
	}
	cp := make(map[string][]byte, len(keys))
	for id, secret := range keys {
		if err := checkKeyID(id); err != nil {
			return err
		}
		if len(secret) < MinKeyLen {
			return fmt.Errorf("ticket: key %q is %d bytes, want at least %d", id, len(secret), MinKeyLen)
		}
		cp[id] = append([]byte(nil), secret...)
	}
	if newest == "" {
		newest = greatest(cp)
	}
	if _, ok := cp[newest]; !ok {
		return fmt.Errorf("ticket: newest key %q is not among the keys", newest)
	}
	k.mu.Lock()
	k.keys, k.newest = cp, newest
	k.mu.Unlock()
	return nil
}

// KeyIDs lists the key ids held, sorted, and the one used for signing.
func (k *Keyring) KeyIDs() (ids []string, newest string) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for id := range k.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, k.newest
}

// LoadKeyDir reads a mounted Secret: one regular file per key, named by its
// key id, holding the secret (surrounding whitespace trimmed, so a trailing
// newline from `echo` is harmless). Names starting with "." are skipped
// (Kubernetes' ..data symlink machinery). The newest key is the lexically
// greatest name, so ids such as "2026-11-29" or "k0002" rotate naturally.
func LoadKeyDir(dir string) (*Keyring, error) {
	keys, err := ReadKeyDir(dir)
	if err != nil {
		return nil, err
	}
	return NewKeyring(keys, "")
}

// ReadKeyDir returns the keys in dir (see LoadKeyDir); use it with Set to
// reload after a rotation.
func ReadKeyDir(dir string) (map[string][]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ticket: reading key dir: %w", err)
	}
	keys := map[string][]byte{}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		st, err := os.Stat(p) // follows the Secret's symlinks
		if err != nil {
			return nil, fmt.Errorf("ticket: key %q: %w", name, err)
		}
		if !st.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("ticket: key %q: %w", name, err)
		}
		keys[name] = []byte(strings.TrimSpace(string(b)))
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoKeys, dir)
	}
	return keys, nil
}

// Sign issues a ticket for c valid for ttl, signed with the newest key.
// c.KeyID and c.Expiry are filled in by Sign and ignored on input.
func (k *Keyring) Sign(c Claims, ttl time.Duration) (string, error) {
	if c.Account == "" {
		return "", errors.New("ticket: claims need an account")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("ticket: ttl must be positive, got %v", ttl)
	}
	if c.Role == "" {
		c.Role = RolePlayer
	}
	k.mu.RLock()
	id, secret := k.newest, k.keys[k.newest]
	k.mu.RUnlock()
	if secret == nil {
		return "", ErrNoKeys
	}
	now := k.now()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwtClaims{
		Session: c.Session,
		Role:    c.Role,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.Account,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	})
	t.Header["kid"] = id
	return t.SignedString(secret)
}

// Verify checks the signature (with the key named by the ticket's kid) and
// the expiry. Errors wrap ErrExpired or ErrInvalid and say what is wrong.
func (k *Keyring) Verify(token string) (Claims, error) {
	if token == "" {
		return Claims{}, fmt.Errorf("%w: empty ticket", ErrInvalid)
	}
	var kid string
	var wc jwtClaims
	_, err := jwt.ParseWithClaims(token, &wc, func(t *jwt.Token) (any, error) {
		id, _ := t.Header["kid"].(string)
		if id == "" {
			return nil, errors.New("no key id (kid) in header")
		}
		k.mu.RLock()
		secret := k.keys[id]
		k.mu.RUnlock()
		if secret == nil {
			return nil, fmt.Errorf("unknown key id %q", id)
		}
		kid = id
		return secret, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(k.now),
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
	switch wc.Role {
	case RolePlayer, RoleService:
	default:
		return Claims{}, fmt.Errorf("%w: unknown role %q", ErrInvalid, wc.Role)
	}
	return Claims{
		Account: wc.Subject,
		Session: wc.Session,
		Role:    wc.Role,
		KeyID:   kid,
		Expiry:  wc.ExpiresAt.Time,
	}, nil
}

func checkKeyID(id string) error {
	if id == "" || strings.HasPrefix(id, ".") || strings.ContainsAny(id, "/\\ \t\n") {
		return fmt.Errorf("ticket: bad key id %q (want a file name without dots in front, slashes or spaces)", id)
	}
	return nil
}

func greatest(keys map[string][]byte) string {
	g := ""
	for id := range keys {
		if id > g {
			g = id
		}
	}
	return g
}

// Reload re-reads dir (see LoadKeyDir) and replaces the keys. On error the
// old keys stay in force, so a half-written Secret update loses nothing.
func (k *Keyring) Reload(dir string) error {
	keys, err := ReadKeyDir(dir)
	if err != nil {
		return err
	}
	return k.Set(keys, "")
}
