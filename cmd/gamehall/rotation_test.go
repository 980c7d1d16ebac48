package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/protocol/pb"
	"github.com/gamehall/gamehall/ticket"
)

// buildGamehall builds this command once per test binary run.
func buildGamehall(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gamehall")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startShardProcess runs `gamehall gameserver` with args and returns its
// players' address, read from its "shard listening" log line.
func startShardProcess(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"gameserver", "--port", "0", "--internal-port", "0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "shard listening" {
				select {
				case addr <- line.Addr:
				default:
				}
			}
			if testing.Verbose() {
				t.Logf("shard: %s", sc.Text())
			}
		}
	}()
	select {
	case a := <-addr:
		return strings.Replace(a, "[::]", "127.0.0.1", 1)
	case <-time.After(30 * time.Second):
		t.Fatal("the shard did not say it listens")
		return ""
	}
}

// A running shard process keeps accepting new logins across a key rotation
// and refuses a retired key's tickets within its reload interval, with no
// restart: the key is published, the shard reloads it, the login side
// activates it; then the old key is retired. New logins go on all along and
// none is refused. (On the HS256 code the shard read its keys once: the
// first login signed with the new key was refused, TICKET_INVALID "unknown
// key id k2", for as long as the shard ran.)
func TestRotationKeepsShardsAcceptingLogins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs gamehall gameserver")
	}
	bin := buildGamehall(t)
	files := ticket.KeyFiles{Dir: t.TempDir()}
	k1, k2 := mustKey(t), mustKey(t)
	must(t, files.Add("k1", k1))
	must(t, files.Activate("k1"))
	const reload = 200 * time.Millisecond
	addr := startShardProcess(t, bin, "--verification-keys", files.VerificationDir(), "--key-reload", reload.String())
	// What the hall's login signs with, reloaded as the hall does.
	login, err := ticket.LoadKeyring(files.SigningDir(), files.VerificationDir())
	must(t, err)
	hello := func(tok string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, addr, tok)
		if err != nil {
			return err
		}
		return c.Close()
	}
	var seq atomic.Int64
	loginAndHello := func() error {
		n := seq.Add(1)
		tok, err := login.Sign(ticket.Player(fmt.Sprintf("p%d", n), "s"), time.Hour)
		if err != nil {
			return err
		}
		return hello(tok)
	}
	must(t, loginAndHello())
	k1Ticket, err := login.Sign(ticket.Player("old", "s"), time.Hour)
	must(t, err)

	// Live traffic: new logins all through the rotation; none may fail.
	stop := make(chan struct{})
	var failures []error
	var logins atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := login.Reload(files.SigningDir(), files.VerificationDir()); err != nil {
				failures = append(failures, fmt.Errorf("login reload: %w", err))
			}
			if err := loginAndHello(); err != nil {
				failures = append(failures, err)
			}
			logins.Add(1)
		}
	})

	// 1. Publish k2; the shard takes it without a restart.
	must(t, files.Add("k2", k2))
	k2Only, err := ticket.NewKeyring(map[string]ed25519.PrivateKey{"k2": k2}, "k2")
	must(t, err)
	eventually(t, "the shard accepts the published key k2", func() error {
		tok, _ := k2Only.Sign(ticket.Player("probe", "s"), time.Hour)
		return hello(tok)
	})
	// 2. Activate k2: the login signs with it and the shard accepts it.
	must(t, files.Activate("k2"))
	eventually(t, "the login signs with k2", func() error {
		if _, active := login.KeyIDs(); active != "k2" {
			return fmt.Errorf("active %s", active)
		}
		return nil
	})
	// 3. Retire k1: its tickets are refused within the reload interval.
	must(t, files.Remove("k1"))
	retired := time.Now()
	eventually(t, "the shard refuses the retired key k1", func() error {
		if err := hello(k1Ticket); err == nil {
			return errors.New("k1's ticket still accepted")
		} else if client.Code(err) != pb.ErrorCode_TICKET_INVALID || !strings.Contains(err.Error(), "revoked") {
			return fmt.Errorf("k1's ticket refused for another reason: %w", err)
		}
		return nil
	})
	t.Logf("k1 refused %v after its removal (reload interval %v)", time.Since(retired).Round(time.Millisecond), reload)
	before := logins.Load()
	eventually(t, "new logins go on after the rotation", func() error {
		if logins.Load() < before+5 {
			return errors.New("not yet")
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d logins failed during the rotation, first: %v", len(failures), logins.Load(), failures[0])
	}
}

func mustKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	k, err := ticket.GenerateKey()
	must(t, err)
	return k
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it returns nil (30 s at most).
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
