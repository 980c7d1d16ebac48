package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// BotOptions are `gamehall bot` flags.
type BotOptions struct {
	Name       string // log file bin/e2e/<test>/bots-<name>.log
	HallURL    string // e.g. http://main-hall.default.svc:8080 (resolved by the cluster DNS)
	Region     string
	Players    int
	Duration   time.Duration
	Think      time.Duration
	Break      time.Duration
	LeaveGrace time.Duration
	Args       []string // more `gamehall bot` flags (e.g. --drop-every, --events)
}

// Bots is a running `gamehall bot`, on a machine of the cluster network
// (its own network namespace, the cluster DNS as resolver), as a client
// inside the cluster would be.
type Bots struct {
	c    *Cluster
	opts BotOptions
	cmd  *exec.Cmd
	out  bytes.Buffer
	log  string
	done chan struct{}
	err  error
}

// BotResult is what a bot run reported.
type BotResult struct {
	Name            string
	Err             error // the process's exit (non-zero: protocol errors or no login)
	Summary         string
	Logins          int
	Games           int
	ConnectionsLost int
	ProtocolErrors  int
}

// StartBots starts simulated players.
func (c *Cluster) StartBots(o BotOptions) *Bots {
	c.T.Helper()
	args := []string{"netns", "exec", c.client.Name, c.Gamehall, "bot", "--hall", o.HallURL, "--players", strconv.Itoa(o.Players),
		"--duration", o.Duration.String(), "--ramp", "20", "-q"}
	if o.Region != "" {
		args = append(args, "--region", o.Region)
	}
	for flag, d := range map[string]time.Duration{"--think": o.Think, "--break": o.Break, "--leave-grace": o.LeaveGrace} {
		if d > 0 {
			args = append(args, flag, d.String())
		}
	}
	args = append(args, o.Args...)
	b := &Bots{c: c, opts: o, log: filepath.Join(c.Dir, "bots-"+o.Name+".log"), done: make(chan struct{})}
	logf, err := os.Create(b.log)
	if err != nil {
		c.T.Fatal(err)
	}
	b.cmd = exec.Command("ip", args...)
	b.cmd.Stdout, b.cmd.Stderr = &b.out, logf
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Progressf("bots %q: %d players for %s at %s (region %q)", o.Name, o.Players, o.Duration, o.HallURL, o.Region)
	if err := b.cmd.Start(); err != nil {
		c.T.Fatal(err)
	}
	go func() {
		b.err = b.cmd.Wait()
		logf.Close()
		close(b.done)
	}()
	c.T.Cleanup(func() {
		select {
		case <-b.done:
		default:
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

// Stop asks the bots to finish their games and leave (as Ctrl-C does).
func (b *Bots) Stop() { _ = b.cmd.Process.Signal(syscall.SIGTERM) }

// Done is closed when the bots have ended.
func (b *Bots) Done() <-chan struct{} { return b.done }

// Wait waits for the bots to end and parses their summary.
func (b *Bots) Wait() BotResult {
	<-b.done
	s := b.out.String()
	r := BotResult{Name: b.opts.Name, Err: b.err, Summary: s}
	num := func(re string) int {
		m := regexp.MustCompile(re).FindStringSubmatch(s)
		if m == nil {
			return -1
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	r.Logins = num(`logins\s+(\d+)`)
	r.Games = num(`games finished\s+(\d+)`)
	r.ConnectionsLost = num(`connections lost\s+(\d+)`)
	r.ProtocolErrors = num(`protocol errors\s+(\d+)`)
	if b.err != nil {
		r.Err = fmt.Errorf("gamehall bot %q: %w (log %s)", b.opts.Name, b.err, b.log)
	}
	return r
}
