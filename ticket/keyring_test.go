package ticket

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	keyA = []byte(strings.Repeat("a", 32))
	keyB = []byte(strings.Repeat("b", 40))
)

func mustRing(t testing.TB, keys map[string][]byte, newest string) *Keyring {
	t.Helper()
	k, err := NewKeyring(keys, newest)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignVerifyRoundTrip(t *testing.T) {
	k := mustRing(t, map[string][]byte{"k1": keyA, "k2": keyB}, "")
	tok, err := k.Sign(Claims{Account: "alice", Session: "s1"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c, err := k.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Account != "alice" || c.Session != "s1" || c.Role != RolePlayer || c.KeyID != "k2" {
		t.Fatalf("claims = %+v", c)
	}
	if d := time.Until(c.Expiry); d <= 0 || d > time.Minute+time.Second {
		t.Fatalf("expiry %v from now", d)
	}
}

func TestVerifyRejects(t *testing.T) {
	k := mustRing(t, map[string][]byte{"k1": keyA}, "")
	other := mustRing(t, map[string][]byte{"k1": keyB}, "")
	unknown := mustRing(t, map[string][]byte{"k9": keyA}, "")
	good, _ := k.Sign(Claims{Account: "a", Session: "s"}, time.Minute)

	past := mustRing(t, map[string][]byte{"k1": keyA}, "")
	past.now = func() time.Time { return time.Now().Add(-time.Hour) }
	expired, _ := past.Sign(Claims{Account: "a", Session: "s"}, time.Minute)
	forged, _ := other.Sign(Claims{Account: "a", Session: "s"}, time.Minute)
	unknownKid, _ := unknown.Sign(Claims{Account: "a", Session: "s"}, time.Minute)

	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "a", "exp": time.Now().Add(time.Hour).Unix()})
	none.Header["kid"] = "k1"
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)

	noExp := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "a"})
	noExp.Header["kid"] = "k1"
	noExpTok, _ := noExp.SignedString(keyA)

	noKid := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "a", "exp": time.Now().Add(time.Hour).Unix()})
	noKidTok, _ := noKid.SignedString(keyA)

	badRole := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "a", "role": "admin", "exp": time.Now().Add(time.Hour).Unix()})
	badRole.Header["kid"] = "k1"
	badRoleTok, _ := badRole.SignedString(keyA)

	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory","sid":"s","role":"player","exp":9999999999}`)) + "." + parts[2]

	tests := []struct {
		name  string
		token string
		want  error
		msg   string
	}{
		{"empty", "", ErrInvalid, "empty ticket"},
		{"garbage", "not-a-jwt", ErrInvalid, "malformed"},
		{"expired", expired, ErrExpired, "expired at"},
		{"forged with another secret", forged, ErrInvalid, "signature"},
		{"unknown key id", unknownKid, ErrInvalid, `unknown key id "k9"`},
		{"alg none", noneTok, ErrInvalid, "signing method"},
		{"no expiry", noExpTok, ErrInvalid, "exp"},
		{"no kid", noKidTok, ErrInvalid, "no key id"},
		{"unknown role", badRoleTok, ErrInvalid, "unknown role"},
		{"tampered payload", tampered, ErrInvalid, "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := k.Verify(tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.msg)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	k := mustRing(t, map[string][]byte{"2026-01": keyA}, "")
	old, _ := k.Sign(Claims{Account: "a"}, time.Hour)

	// Add the new key: sign with it, still accept the old one.
	if err := k.Set(map[string][]byte{"2026-01": keyA, "2026-02": keyB}, ""); err != nil {
		t.Fatal(err)
	}
	fresh, _ := k.Sign(Claims{Account: "a"}, time.Hour)
	for name, tok := range map[string]string{"old": old, "fresh": fresh} {
		if _, err := k.Verify(tok); err != nil {
			t.Fatalf("%s ticket rejected during rotation: %v", name, err)
		}
	}
	if c, _ := k.Verify(fresh); c.KeyID != "2026-02" {
		t.Fatalf("signed with %q, want the newest key", c.KeyID)
	}
	// Remove the old key: its tickets stop working, new ones keep working.
	if err := k.Set(map[string][]byte{"2026-02": keyB}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Verify(old); !errors.Is(err, ErrInvalid) {
		t.Fatalf("old ticket after removal: %v, want ErrInvalid", err)
	}
	if _, err := k.Verify(fresh); err != nil {
		t.Fatal(err)
	}
}

func TestNewKeyringErrors(t *testing.T) {
	tests := []struct {
		name   string
		keys   map[string][]byte
		newest string
		msg    string
	}{
		{"no keys", nil, "", "no signing keys"},
		{"short key", map[string][]byte{"k": []byte("short")}, "", "at least 32"},
		{"missing newest", map[string][]byte{"k": keyA}, "x", `newest key "x"`},
		{"bad id", map[string][]byte{"a/b": keyA}, "", "bad key id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewKeyring(tt.keys, tt.newest)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.msg)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	k := mustRing(t, map[string][]byte{"k": keyA}, "")
	if _, err := k.Sign(Claims{}, time.Minute); err == nil {
		t.Fatal("signed claims without an account")
	}
	if _, err := k.Sign(Claims{Account: "a"}, 0); err == nil {
		t.Fatal("signed with zero ttl")
	}
}

// TestLoadKeyDir lays the directory out like a mounted Kubernetes Secret:
// files are symlinks through ..data into a timestamped directory.
func TestLoadKeyDir(t *testing.T) {
	dir := t.TempDir()
	ts := filepath.Join(dir, "..2026_11_29")
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(ts, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("k0001", append(append([]byte{}, keyA...), '\n'))
	write("k0002", keyB)
	if err := os.Symlink("..2026_11_29", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"k0001", "k0002"} {
		if err := os.Symlink(filepath.Join("..data", n), filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	k, err := LoadKeyDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids, newest := k.KeyIDs()
	if strings.Join(ids, ",") != "k0001,k0002" || newest != "k0002" {
		t.Fatalf("ids %v newest %q", ids, newest)
	}
	// The trailing newline was trimmed: a ring built from the raw key verifies.
	tok, _ := mustRing(t, map[string][]byte{"k0001": keyA}, "").Sign(Claims{Account: "a"}, time.Minute)
	if _, err := k.Verify(tok); err != nil {
		t.Fatal(err)
	}

	// A reload from a now-empty dir fails and keeps the old keys.
	empty := t.TempDir()
	if err := k.Reload(empty); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("reload of empty dir: %v", err)
	}
	if _, err := k.Verify(tok); err != nil {
		t.Fatalf("old keys lost after failed reload: %v", err)
	}
	if _, err := LoadKeyDir(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("loaded a missing dir")
	}
}

// FuzzVerify: Verify parses untrusted bytes; it must never panic and must
// only accept tokens that carry a valid signature.
func FuzzVerify(f *testing.F) {
	k := mustRing(f, map[string][]byte{"k1": keyA}, "")
	good, _ := k.Sign(Claims{Account: "a", Session: "s"}, time.Hour)
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(good[:len(good)-2])
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := k.Verify(tok)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) {
				t.Fatalf("error wraps neither ErrInvalid nor ErrExpired: %v", err)
			}
			return
		}
		if c.Account == "" || c.KeyID != "k1" {
			t.Fatalf("accepted %q with claims %+v", tok, c)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	k := mustRing(b, map[string][]byte{"k1": keyA}, "")
	for b.Loop() {
		if _, err := k.Sign(Claims{Account: "alice", Session: "s"}, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	k := mustRing(b, map[string][]byte{"k1": keyA}, "")
	tok, _ := k.Sign(Claims{Account: "alice", Session: "s"}, time.Hour)
	for b.Loop() {
		if _, err := k.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
