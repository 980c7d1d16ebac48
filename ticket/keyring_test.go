package ticket

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRing(t testing.TB, keys map[string]ed25519.PrivateKey, active string) *Keyring {
	t.Helper()
	k, err := NewKeyring(keys, active)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignVerifyRoundTrip(t *testing.T) {
	k := mustRing(t, map[string]ed25519.PrivateKey{"k1": newKey(t), "k2": newKey(t)}, "k1")
	tok, err := k.Sign(Player("alice", "s1"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c, err := k.Verify(tok, AudPlayer)
	if err != nil {
		t.Fatal(err)
	}
	// The active key signs, not the one that sorts last.
	if c.Account != "alice" || c.Session != "s1" || !c.Has(AudPlayer) || len(c.Audience) != 1 || c.KeyID != "k1" {
		t.Fatalf("claims = %+v", c)
	}
	if d := time.Until(c.Expiry); d <= 0 || d > time.Minute+time.Second {
		t.Fatalf("expiry %v from now", d)
	}
	// A shard verifies with the public keys alone.
	pub, err := NewKeySet(map[string]ed25519.PublicKey{"k1": k.priv["k1"].Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Verify(tok, AudPlayer); err != nil {
		t.Fatal(err)
	}
}

// Every ticket names its audience and is refused elsewhere.
func TestAudience(t *testing.T) {
	k := mustRing(t, map[string]ed25519.PrivateKey{"k1": newKey(t)}, "k1")
	player, _ := k.Sign(Player("alice", "s"), time.Minute)
	reader, _ := k.Sign(Service("hall/a", AudShardRead), time.Minute)
	ops, _ := k.Sign(Service("op", AudShardRead, AudShardDrain, AudHallOps), time.Minute)
	tests := []struct {
		tok  string
		want Audience
		ok   bool
		msg  string
	}{
		{player, AudPlayer, true, ""},
		{player, AudShardDrain, false, "the ticket is for player, not shard.drain"},
		{player, AudHallOps, false, "not hall.ops"},
		{reader, AudShardRead, true, ""},
		{reader, AudShardDrain, false, "the ticket is for shard.read, not shard.drain"},
		{reader, AudPlayer, false, "not player"},
		{ops, AudShardDrain, true, ""},
		{ops, AudHallOps, true, ""},
		{ops, AudPlayer, false, "not player"},
	}
	for i, tt := range tests {
		_, err := k.Verify(tt.tok, tt.want)
		if tt.ok != (err == nil) || (!tt.ok && (!errors.Is(err, ErrAudience) || !strings.Contains(err.Error(), tt.msg))) {
			t.Errorf("%d: Verify(%s) = %v, want ok=%v with %q", i, tt.want, err, tt.ok, tt.msg)
		}
	}
	for _, c := range []Claims{{Account: "a"}, {Account: "a", Audience: []Audience{AudPlayer, AudShardDrain}}, {Account: "a", Audience: []Audience{"admin"}}} {
		if _, err := k.Sign(c, time.Minute); err == nil {
			t.Errorf("Sign(%+v) succeeded", c)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	key := newKey(t)
	k := mustRing(t, map[string]ed25519.PrivateKey{"k1": key}, "k1")
	other := mustRing(t, map[string]ed25519.PrivateKey{"k1": newKey(t)}, "k1")
	unknown := mustRing(t, map[string]ed25519.PrivateKey{"k9": key}, "k9")
	good, _ := k.Sign(Player("a", "s"), time.Minute)

	past := mustRing(t, map[string]ed25519.PrivateKey{"k1": key}, "k1")
	past.now = func() time.Time { return time.Now().Add(-time.Hour) }
	expired, _ := past.Sign(Player("a", "s"), time.Minute)
	forged, _ := other.Sign(Player("a", "s"), time.Minute)
	unknownKid, _ := unknown.Sign(Player("a", "s"), time.Minute)

	sign := func(m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(m, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := time.Now().Add(time.Hour).Unix()
	noneTok := sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", jwt.MapClaims{"sub": "a", "aud": "player", "exp": exp})
	// HS256 keyed with the public key: the classic algorithm confusion.
	hsTok := sign(jwt.SigningMethodHS256, []byte(key.Public().(ed25519.PublicKey)), "k1", jwt.MapClaims{"sub": "a", "aud": "player", "exp": exp})
	noExpTok := sign(jwt.SigningMethodEdDSA, key, "k1", jwt.MapClaims{"sub": "a", "aud": "player"})
	noKidTok := sign(jwt.SigningMethodEdDSA, key, "", jwt.MapClaims{"sub": "a", "aud": "player", "exp": exp})
	noAudTok := sign(jwt.SigningMethodEdDSA, key, "k1", jwt.MapClaims{"sub": "a", "exp": exp})
	badAudTok := sign(jwt.SigningMethodEdDSA, key, "k1", jwt.MapClaims{"sub": "a", "aud": "admin", "exp": exp})
	mixedTok := sign(jwt.SigningMethodEdDSA, key, "k1", jwt.MapClaims{"sub": "a", "aud": []string{"player", "shard.drain"}, "exp": exp})

	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory","sid":"s","aud":["player"],"exp":9999999999}`)) + "." + parts[2]

	tests := []struct {
		name  string
		token string
		want  error
		msg   string
	}{
		{"empty", "", ErrInvalid, "empty ticket"},
		{"garbage", "not-a-jwt", ErrInvalid, "malformed"},
		{"expired", expired, ErrExpired, "expired at"},
		{"forged with another key", forged, ErrInvalid, "verification error"},
		{"unknown key id", unknownKid, ErrInvalid, `unknown or revoked key id "k9"`},
		{"alg none", noneTok, ErrInvalid, "signing method"},
		{"HS256 with the public key", hsTok, ErrInvalid, "signing method"},
		{"no expiry", noExpTok, ErrInvalid, "exp"},
		{"no kid", noKidTok, ErrInvalid, "no key id"},
		{"no audience", noAudTok, ErrInvalid, "no audience"},
		{"unknown audience", badAudTok, ErrInvalid, "unknown audience admin"},
		{"player mixed with service", mixedTok, ErrInvalid, "no other audience"},
		{"tampered payload", tampered, ErrInvalid, "verification error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := k.Verify(tt.token, AudPlayer)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.msg)
			}
		})
	}
}

func TestNewKeyringErrors(t *testing.T) {
	a, b := newKey(t), newKey(t)
	tests := []struct {
		name   string
		priv   map[string]ed25519.PrivateKey
		active string
		pub    map[string]ed25519.PublicKey
		msg    string
	}{
		{"no keys", nil, "", map[string]ed25519.PublicKey{"k": a.Public().(ed25519.PublicKey)}, "no keys"},
		{"missing active", map[string]ed25519.PrivateKey{"k": a}, "x", map[string]ed25519.PublicKey{"k": a.Public().(ed25519.PublicKey)}, `active key "x" is not among`},
		{"active not published", map[string]ed25519.PrivateKey{"k": a}, "k", map[string]ed25519.PublicKey{"j": b.Public().(ed25519.PublicKey)}, "not published"},
		{"published half differs", map[string]ed25519.PrivateKey{"k": a}, "k", map[string]ed25519.PublicKey{"k": b.Public().(ed25519.PublicKey)}, "not this private key's"},
		{"bad id", map[string]ed25519.PrivateKey{"a/b": a}, "a/b", map[string]ed25519.PublicKey{"a/b": a.Public().(ed25519.PublicKey)}, "bad key id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewKeyringWith(tt.priv, tt.active, tt.pub)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.msg)
			}
		})
	}
}

// The rotation as `gamehall keys` does it on disk: publish, activate,
// remove; a hall's Keyring and a shard's KeySet reload the directories.
func TestReloadRotation(t *testing.T) {
	files := KeyFiles{Dir: t.TempDir()}
	k1, k2 := newKey(t), newKey(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(files.Add("k1", k1))
	must(files.Activate("k1"))
	hall, err := LoadKeyring(files.SigningDir(), files.VerificationDir())
	must(err)
	shard, err := LoadKeySet(files.VerificationDir())
	must(err)
	old, _ := hall.Sign(Player("a", "s"), time.Hour)

	// k2 in the signing Secret and named active before it is published: the
	// hall keeps signing with k1 and says why.
	must(os.MkdirAll(files.SigningDir(), 0o700))
	must(os.WriteFile(filepath.Join(files.SigningDir(), "k2.pem"), MarshalPrivateKey(k2), 0o600))
	must(os.WriteFile(filepath.Join(files.SigningDir(), ActiveFile), []byte("k2"), 0o600))
	if _, err := hall.Reload(files.SigningDir(), files.VerificationDir()); err == nil || !strings.Contains(err.Error(), "not published") {
		t.Fatalf("reload with an unpublished active key: %v", err)
	}
	if _, a := hall.KeyIDs(); a != "k1" {
		t.Fatalf("active %q, want k1 kept", a)
	}
	// Published: both reload; the hall signs with k2 and the shard takes it.
	must(os.WriteFile(filepath.Join(files.VerificationDir(), "k2.pem"), MarshalPublicKey(k2.Public().(ed25519.PublicKey)), 0o600))
	if changed, err := shard.Reload(files.VerificationDir()); err != nil || !changed {
		t.Fatalf("shard reload: %v %v", changed, err)
	}
	if changed, err := hall.Reload(files.SigningDir(), files.VerificationDir()); err != nil || !changed {
		t.Fatalf("hall reload: %v %v", changed, err)
	}
	fresh, _ := hall.Sign(Player("a", "s"), time.Hour)
	for name, tok := range map[string]string{"old": old, "fresh": fresh} {
		if _, err := shard.Verify(tok, AudPlayer); err != nil {
			t.Fatalf("%s ticket refused during the rotation: %v", name, err)
		}
	}
	if c, _ := shard.Verify(fresh, AudPlayer); c.KeyID != "k2" {
		t.Fatalf("signed with %q, want k2", c.KeyID)
	}
	// Removing the active key is refused; removing k1 revokes its tickets.
	if err := files.Remove("k2"); err == nil {
		t.Fatal("removed the active key")
	}
	must(files.Remove("k1"))
	must(firstErr(shard.Reload(files.VerificationDir())))
	must(firstErr(hall.Reload(files.SigningDir(), files.VerificationDir())))
	for _, v := range []Verifier{shard, hall} {
		if _, err := v.Verify(old, AudPlayer); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("k1's ticket after removal: %v", err)
		}
		if _, err := v.Verify(fresh, AudPlayer); err != nil {
			t.Fatal(err)
		}
	}
	// Revoking the active key itself stops signing at once.
	must(os.Remove(filepath.Join(files.VerificationDir(), "k2.pem")))
	must(files.Add("k3", newKey(t)))
	if _, err := hall.Reload(files.SigningDir(), files.VerificationDir()); err == nil {
		t.Fatal("reload with the active key revoked says nothing")
	}
	if _, err := hall.Verify(fresh, AudPlayer); !errors.Is(err, ErrInvalid) {
		t.Fatalf("the revoked active key's ticket: %v", err)
	}
	if _, err := hall.Sign(Player("a", "s"), time.Hour); err == nil || !strings.Contains(err.Error(), "removed from the verification keys") {
		t.Fatalf("signing with a revoked active key: %v", err)
	}
}

func firstErr(_ bool, err error) error { return err }

func TestKeyDirs(t *testing.T) {
	files := KeyFiles{Dir: t.TempDir()}
	k := newKey(t)
	if err := files.Add("k1", k); err != nil {
		t.Fatal(err)
	}
	if err := files.Add("k1", k); err == nil {
		t.Fatal("added k1 twice")
	}
	if _, _, err := ReadSigningDir(files.SigningDir()); err == nil || !strings.Contains(err.Error(), `no file "active"`) {
		t.Fatalf("no active file: %v", err)
	}
	// Kubernetes' ..data machinery and dotfiles are skipped.
	os.WriteFile(filepath.Join(files.VerificationDir(), "..data"), []byte("x"), 0o600)
	if _, err := ReadVerificationDir(files.VerificationDir()); err != nil {
		t.Fatal(err)
	}
	// A private key among the public ones, or a stray file, is an error.
	os.WriteFile(filepath.Join(files.VerificationDir(), "k2.pem"), MarshalPrivateKey(k), 0o600)
	if _, err := ReadVerificationDir(files.VerificationDir()); err == nil || !strings.Contains(err.Error(), "never put private keys") {
		t.Fatalf("private key in the verification set: %v", err)
	}
	os.Remove(filepath.Join(files.VerificationDir(), "k2.pem"))
	os.WriteFile(filepath.Join(files.VerificationDir(), "k1"), []byte("secret"), 0o600)
	if _, err := ReadVerificationDir(files.VerificationDir()); err == nil || !strings.Contains(err.Error(), "unexpected file") {
		t.Fatalf("stray file: %v", err)
	}
	if _, err := ReadVerificationDir(t.TempDir()); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("empty dir: %v", err)
	}
}

func BenchmarkSign(b *testing.B) {
	k := mustRing(b, map[string]ed25519.PrivateKey{"k1": newKey(b)}, "k1")
	for b.Loop() {
		if _, err := k.Sign(Player("alice", "s"), time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	k := mustRing(b, map[string]ed25519.PrivateKey{"k1": newKey(b)}, "k1")
	tok, _ := k.Sign(Player("alice", "s"), time.Hour)
	for b.Loop() {
		if _, err := k.Verify(tok, AudPlayer); err != nil {
			b.Fatal(err)
		}
	}
}
