package login

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/gamehall/gamehall/store"
)

// accountName: what an account may be called (also the guest name rule):
// printable, URL- and Redis-key-safe, short.
var accountName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`)

// ValidAccountName reports whether name may be used as an account id.
func ValidAccountName(name string) error {
	if !accountName.MatchString(name) {
		return fmt.Errorf("account name %q: want 1-32 characters of letters, digits, '_', '.', '-', starting with a letter or digit", name)
	}
	return nil
}

// ErrBadPassword: the account exists and the password does not match, or
// the account does not exist (callers must not tell which).
var ErrBadPassword = errors.New("login: wrong account name or password")

// Accounts is an accounts file: one "name:bcrypt-hash" per line; blank
// lines and lines starting with '#' are ignored. It is safe for concurrent
// use; Reload re-reads the file.
type Accounts struct {
	path string
	mu   sync.RWMutex
	hash map[string][]byte
}

// dummyHash is compared against for unknown accounts so that the answer
// time does not reveal which accounts exist.
// Made on first use: bcrypt is slow and most binaries never need it.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("gamehall-no-such-account"), bcrypt.DefaultCost)
	return h
})

// LoadAccounts reads an accounts file.
func LoadAccounts(path string) (*Accounts, error) {
	a := &Accounts{path: path}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload re-reads the file; on error the old accounts stay in force.
func (a *Accounts) Reload() error {
	b, err := os.ReadFile(a.path)
	if err != nil {
		return fmt.Errorf("accounts file: %w", err)
	}
	h, err := ParseAccounts(b)
	if err != nil {
		return fmt.Errorf("accounts file %s: %w", a.path, err)
	}
	a.mu.Lock()
	a.hash = h
	a.mu.Unlock()
	return nil
}

// ParseAccounts parses the accounts file format.
func ParseAccounts(b []byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want name:bcrypt-hash", n)
		}
		if err := ValidAccountName(name); err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("line %d: account %q: not a bcrypt hash: %v", n, name, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("line %d: account %q listed twice", n, name)
		}
		out[name] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Has reports whether the account is listed.
func (a *Accounts) Has(name string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	_, ok := a.hash[name]
	return ok
}

// Check verifies the password; ErrBadPassword if it or the name is wrong.
func (a *Accounts) Check(name, password string) error {
	a.mu.RLock()
	h, ok := a.hash[name]
	a.mu.RUnlock()
	if !ok {
		compareHash(dummyHash(), password)
		return ErrBadPassword
	}
	if compareHash(h, password) != nil {
		return ErrBadPassword
	}
	return nil
}

// AddAccount adds or replaces name's password in the accounts file at
// path (created if missing), keeping other lines and comments. The file
// is replaced atomically.
func AddAccount(path, name, password string, cost int) error {
	if err := ValidAccountName(name); err != nil {
		return err
	}
	if password == "" {
		return errors.New("empty password")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, err := ParseAccounts(old); err != nil {
		return fmt.Errorf("accounts file %s: %w (not changed)", path, err)
	}
	var lines []string
	replaced := false
	for _, l := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		if n, _, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && n == name && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			l, replaced = name+":"+string(hash), true
		}
		if l != "" || len(lines) > 0 {
			lines = append(lines, l)
		}
	}
	if !replaced {
		lines = append(lines, name+":"+string(hash))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".accounts-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Names lists the accounts, sorted.
func (a *Accounts) Names() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, 0, len(a.hash))
	for n := range a.hash {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ImportInto copies the file's accounts into the accounts database (see
// store.Accounts.ImportAccounts: the file adds names and updates the ones it
// added before; accounts from sign-up or an administrator are left alone).
func (a *Accounts) ImportInto(ctx context.Context, st store.Accounts) (store.ImportResult, error) {
	a.mu.RLock()
	accts := make([]store.Account, 0, len(a.hash))
	for name, h := range a.hash {
		accts = append(accts, store.Account{Name: name, PasswordHash: h, Source: store.SourceFile})
	}
	a.mu.RUnlock()
	sort.Slice(accts, func(i, j int) bool { return accts[i].Name < accts[j].Name })
	return st.ImportAccounts(ctx, accts)
}
