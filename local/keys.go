package local

import (
	"context"
	"crypto/ed25519"
	"errors"

	"github.com/gamehall/gamehall/ticket"
)

// loadKeys gives login and the hall a Keyring and the shards a KeySet of
// the public keys alone, as on Kubernetes: from KeyDir, or one fresh key per
// run (tickets only need to outlive this process).
func (l *Local) loadKeys() error {
	if l.cfg.KeyDir == "" {
		keys, err := ticket.NewRandomKeyring("local")
		if err != nil {
			return err
		}
		ids, _ := keys.KeyIDs()
		pub := map[string]ed25519.PublicKey{}
		for _, id := range ids {
			pub[id] = keys.PublicKey(id)
		}
		verify, err := ticket.NewKeySet(pub)
		if err != nil {
			return err
		}
		l.keys, l.verify = keys, verify
		return nil
	}
	files := ticket.KeyFiles{Dir: l.cfg.KeyDir}
	keys, err := ticket.LoadKeyring(files.SigningDir(), files.VerificationDir())
	if err != nil {
		return err
	}
	verify, err := ticket.LoadKeySet(files.VerificationDir())
	if err != nil {
		return err
	}
	l.keys, l.verify = keys, verify
	return nil
}

// reloadKeys re-reads KeyDir every KeyReload until ctx ends: the hall's
// keys and the shards' (as each shard process does on its own).
func (l *Local) reloadKeys(ctx context.Context) {
	every := l.cfg.KeyReload
	if every <= 0 {
		every = ticket.DefaultReload
	}
	files := ticket.KeyFiles{Dir: l.cfg.KeyDir}
	ticket.ReloadEvery(ctx, every, l.log.WithName("keys"), func() (bool, error) {
		c1, err1 := l.verify.Reload(files.VerificationDir())
		c2, err2 := l.keys.Reload(files.SigningDir(), files.VerificationDir())
		return c1 || c2, errors.Join(err1, err2)
	}, func() []any {
		ids, active := l.keys.KeyIDs()
		return []any{"keys", ids, "active", active}
	})
}
