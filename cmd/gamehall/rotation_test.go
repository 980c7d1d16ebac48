package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gamehall/gamehall/client"
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

func writeSecret(t *testing.T, dir, kid string) {
	t.Helper()
	secret := make([]byte, 32)
	rand.Read(secret)
	if err := os.WriteFile(filepath.Join(dir, kid), []byte(base64.StdEncoding.EncodeToString(secret)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A running shard process keeps accepting new logins across a key rotation:
// the login side starts signing with a new key and the shard, which was
// never restarted, accepts its tickets. (Before asymmetric tickets this
// failed: shards read their keys once.)
func TestRotationKeepsShardsAcceptingLogins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs gamehall gameserver")
	}
	bin := buildGamehall(t)
	dir := t.TempDir()
	writeSecret(t, dir, "k1")
	addr := startShardProcess(t, bin, "--signing-keys", dir)
	login, err := ticket.LoadKeyDir(dir) // what the hall's login signs with
	if err != nil {
		t.Fatal(err)
	}
	hello := func(account string) error {
		tok, err := login.Sign(ticket.Claims{Account: account, Session: "s-" + account, Role: ticket.RolePlayer}, time.Hour)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, addr, tok)
		if err != nil {
			return err
		}
		return c.Close()
	}
	if err := hello("before"); err != nil {
		t.Fatalf("a login before the rotation: %v", err)
	}
	// Rotate as the old README said: add k2, which the login then signs with.
	writeSecret(t, dir, "k2")
	if err := login.Reload(dir); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := hello("after")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a new login after the rotation is still refused by the running shard: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
