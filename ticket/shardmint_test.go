package ticket_test

import (
	"testing"
	"time"

	"github.com/gamehall/gamehall/ticket"
)

// A shard pod holds the verification directory the operator mounts into it.
// Nothing signed with what is in it may pass the verifiers halls and shards
// use, for any audience. (On the HS256 code this failed: the one symmetric
// key was in every shard pod, and 8 forged player and service tickets
// passed.)
func TestShardHeldKeysCannotMint(t *testing.T) {
	files := ticket.KeyFiles{Dir: t.TempDir()}
	k, err := ticket.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kid := ticket.NewKeyID(time.Now())
	if err := files.Add(kid, k); err != nil {
		t.Fatal(err)
	}
	if err := files.Activate(kid); err != nil {
		t.Fatal(err)
	}
	hall, err := ticket.LoadKeyring(files.SigningDir(), files.VerificationDir())
	if err != nil {
		t.Fatal(err)
	}
	shard, err := ticket.LoadKeySet(files.VerificationDir())
	if err != nil {
		t.Fatal(err)
	}
	auds := append([]ticket.Audience{ticket.AudPlayer}, ticket.ServiceAudiences...)
	forged := forgeries(t, files.VerificationDir())
	if len(forged) == 0 {
		t.Fatal("no forgeries tried")
	}
	for name, tok := range forged {
		for _, v := range []ticket.Verifier{hall, shard} {
			for _, aud := range auds {
				if c, err := v.Verify(tok, aud); err == nil {
					t.Errorf("a %s ticket signed with the shard's key file (%s) was accepted: %+v", aud, name, c)
				}
			}
		}
	}
	// The same forger with the signing directory succeeds: the test can tell.
	n := 0
	for _, tok := range forgeries(t, files.SigningDir()) {
		if _, err := shard.Verify(tok, ticket.AudPlayer); err == nil {
			n++
		}
	}
	if n == 0 {
		t.Fatal("the forger could not sign even with the private key: it proves nothing")
	}
}
