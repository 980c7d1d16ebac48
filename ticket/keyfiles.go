package ticket

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The key directories (mounted Secrets). Kubernetes' ..data symlinks and
// other names starting with "." are skipped.
//
//	signing/      <kid>.pem  PKCS#8 Ed25519 private key ("PRIVATE KEY")
//	              active     the kid that signs
//	verification/ <kid>.pem  PKIX Ed25519 public key ("PUBLIC KEY")
//
// `openssl genpkey -algorithm ed25519` writes the first form and
// `openssl pkey -pubout` the second.
const (
	// ActiveFile names the signing key in the signing directory.
	ActiveFile = "active"
	// KeySuffix ends every key file's name; the rest is the key id.
	KeySuffix = ".pem"
)

// ReadSigningDir returns the private keys in dir and the active key id.
func ReadSigningDir(dir string) (map[string]ed25519.PrivateKey, string, error) {
	files, err := readDir(dir)
	if err != nil {
		return nil, "", err
	}
	return ParseSigningFiles(files, dir)
}

// ParseSigningFiles reads a signing Secret's data (file name → content);
// where names it in errors.
func ParseSigningFiles(files map[string][]byte, where string) (map[string]ed25519.PrivateKey, string, error) {
	dir := where
	keys := map[string]ed25519.PrivateKey{}
	active := ""
	for name, b := range files {
		if name == ActiveFile {
			active = strings.TrimSpace(string(b))
			continue
		}
		kid, err := keyID(name)
		if err != nil {
			return nil, "", err
		}
		if keys[kid], err = ParsePrivateKey(b); err != nil {
			return nil, "", fmt.Errorf("ticket: %s: %w", filepath.Join(dir, name), err)
		}
	}
	if len(keys) == 0 {
		return nil, "", fmt.Errorf("%w in %s", ErrNoKeys, dir)
	}
	if active == "" {
		return nil, "", fmt.Errorf("ticket: %s has no file %q naming the key that signs", dir, ActiveFile)
	}
	return keys, active, nil
}

// ReadVerificationDir returns the public keys in dir. A private key there is
// an error: this directory is what shards hold.
func ReadVerificationDir(dir string) (map[string]ed25519.PublicKey, error) {
	files, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	keys := map[string]ed25519.PublicKey{}
	for name, b := range files {
		kid, err := keyID(name)
		if err != nil {
			return nil, err
		}
		if keys[kid], err = ParsePublicKey(b); err != nil {
			return nil, fmt.Errorf("ticket: %s: %w", filepath.Join(dir, name), err)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoKeys, dir)
	}
	return keys, nil
}

// readDir reads every regular file of dir not starting with ".".
func readDir(dir string) (map[string][]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ticket: reading key dir: %w", err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		st, err := os.Stat(p) // follows the Secret's symlinks
		if err != nil {
			return nil, fmt.Errorf("ticket: key file %q: %w", name, err)
		}
		if !st.Mode().IsRegular() {
			continue
		}
		if out[name], err = os.ReadFile(p); err != nil {
			return nil, fmt.Errorf("ticket: key file %q: %w", name, err)
		}
	}
	return out, nil
}

func keyID(file string) (string, error) {
	kid, ok := strings.CutSuffix(file, KeySuffix)
	if !ok {
		return "", fmt.Errorf("ticket: unexpected file %q among the keys (want <key id>%s)", file, KeySuffix)
	}
	return kid, checkKeyID(kid)
}

func checkKeyID(id string) error {
	if id == "" || id == ActiveFile || strings.HasPrefix(id, ".") || strings.ContainsAny(id, "/\\ \t\n") {
		return fmt.Errorf("ticket: bad key id %q (want a file name without dots in front, slashes or spaces)", id)
	}
	return nil
}

// ParsePrivateKey reads a PEM "PRIVATE KEY" (PKCS#8) holding an Ed25519 key.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM PRIVATE KEY (PKCS#8)")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
	}
	return priv, nil
}

// ParsePublicKey reads a PEM "PUBLIC KEY" (PKIX) holding an Ed25519 key.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("not PEM")
	}
	if blk.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("a PEM %q where a PUBLIC KEY belongs (never put private keys in the verification set)", blk.Type)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
	}
	return pub, nil
}

// MarshalPrivateKey encodes k as PEM PKCS#8.
func MarshalPrivateKey(k ed25519.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err) // an Ed25519 key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// MarshalPublicKey encodes k as PEM PKIX.
func MarshalPublicKey(k ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// NewKeyID names a key generated at t: k<UTC date>-<time>, a valid Secret
// key and file name.
func NewKeyID(t time.Time) string { return "k" + t.UTC().Format("20060102-150405") }

// GenerateKey returns a new Ed25519 key.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	return priv, err
}

// KeyFiles is a key directory pair on disk, as `gamehall keys` keeps it.
type KeyFiles struct{ Dir string }

// SigningDir and VerificationDir are the two directories under Dir.
func (f KeyFiles) SigningDir() string      { return filepath.Join(f.Dir, "signing") }
func (f KeyFiles) VerificationDir() string { return filepath.Join(f.Dir, "verification") }

// Add writes a new key: its private half into the signing directory, its
// public half into the verification directory. It does not make it active.
func (f KeyFiles) Add(kid string, k ed25519.PrivateKey) error {
	if err := checkKeyID(kid); err != nil {
		return err
	}
	for _, d := range []string{f.SigningDir(), f.VerificationDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(d, kid+KeySuffix)); err == nil {
			return fmt.Errorf("ticket: key %q exists in %s", kid, d)
		}
	}
	if err := writeAtomic(filepath.Join(f.VerificationDir(), kid+KeySuffix), MarshalPublicKey(k.Public().(ed25519.PublicKey))); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(f.SigningDir(), kid+KeySuffix), MarshalPrivateKey(k))
}

// Activate names kid the signing key; it must be in both directories.
func (f KeyFiles) Activate(kid string) error {
	for _, d := range []string{f.SigningDir(), f.VerificationDir()} {
		if _, err := os.Stat(filepath.Join(d, kid+KeySuffix)); err != nil {
			return fmt.Errorf("ticket: cannot activate %q: %w", kid, err)
		}
	}
	return writeAtomic(filepath.Join(f.SigningDir(), ActiveFile), []byte(kid+"\n"))
}

// Remove deletes kid from both directories; the active key cannot be removed.
func (f KeyFiles) Remove(kid string) error {
	if err := checkKeyID(kid); err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(f.SigningDir(), ActiveFile)); err == nil && strings.TrimSpace(string(b)) == kid {
		return fmt.Errorf("ticket: %q is the active key: activate another first", kid)
	}
	for _, d := range []string{f.SigningDir(), f.VerificationDir()} {
		if err := os.Remove(filepath.Join(d, kid+KeySuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// writeAtomic replaces path in one rename, so a reload never reads half a key.
func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
