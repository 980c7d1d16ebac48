package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gamehall/gamehall/ticket"
)

// gamehall keys: the first key is active; a second is published but not
// active until activate; the active key cannot be retired; retire removes
// a key from both directories.
func TestKeysCommand(t *testing.T) {
	dir := t.TempDir()
	files := ticket.KeyFiles{Dir: dir}
	run := func(want int, args ...string) {
		t.Helper()
		if got := runKeys(args); got != want {
			t.Fatalf("gamehall keys %v = %d, want %d", args, got, want)
		}
	}
	state := func() (ids []string, active string) {
		t.Helper()
		k, err := ticket.LoadKeyring(files.SigningDir(), files.VerificationDir())
		if err != nil {
			t.Fatal(err)
		}
		return k.KeyIDs()
	}
	run(0, "new", "--dir", dir, "--id", "a")
	if ids, active := state(); !slices.Equal(ids, []string{"a"}) || active != "a" {
		t.Fatalf("after the first new: %v active %s", ids, active)
	}
	run(0, "new", "--dir", dir, "--id", "b")
	if ids, active := state(); !slices.Equal(ids, []string{"a", "b"}) || active != "a" {
		t.Fatalf("after the second new: %v active %s", ids, active)
	}
	run(1, "new", "--dir", dir, "--id", "b")
	run(0, "activate", "--dir", dir, "b")
	run(1, "retire", "--dir", dir, "b")
	run(0, "retire", "--dir", dir, "a")
	if ids, active := state(); !slices.Equal(ids, []string{"b"}) || active != "b" {
		t.Fatalf("after retire: %v active %s", ids, active)
	}
	run(0, "ticket", "--dir", dir, "--audience", "hall.ops,shard.drain")
	// The printed ticket: signed with the active key, for the account and
	// the audiences asked, and nothing else.
	var out strings.Builder
	k := keysCmd{files: files, out: &out, fail: func(f string, a ...any) int { t.Fatalf(f, a...); return 1 }}
	if code := k.serviceTicket("ops", []string{"hall.ops", "shard.drain"}, time.Minute); code != 0 {
		t.Fatalf("ticket: %d", code)
	}
	pub, err := ticket.LoadKeySet(files.VerificationDir())
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())
	c, err := pub.Verify(tok, ticket.AudShardDrain)
	if err != nil || c.Account != "ops" || c.KeyID != "b" || !c.Has(ticket.AudHallOps) {
		t.Fatalf("the printed ticket: %+v %v; want ops's, signed by b, for hall.ops and shard.drain", c, err)
	}
	if _, err := pub.Verify(tok, ticket.AudPlayer); err == nil {
		t.Fatal("a service ticket passed as a player's")
	}
	run(1, "ticket", "--dir", dir, "--audience", "player")
	run(1, "activate", "--dir", dir, "nope")
}
