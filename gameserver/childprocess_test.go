package gameserver_test

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// startChildProcess runs this test binary again with only the test named
// test and env added to the environment: a shard process the test can
// SIGKILL. The child prints "LISTEN <addr>" once it serves; its address is
// returned and its later output discarded.
func startChildProcess(t *testing.T, test string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, addr
		}
	}
	t.Fatalf("the shard process did not start: %v", sc.Err())
	return nil, ""
}
