package main

import (
	"slices"
	"testing"

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
	run(1, "ticket", "--dir", dir, "--audience", "player")
	run(1, "activate", "--dir", dir, "nope")
}
