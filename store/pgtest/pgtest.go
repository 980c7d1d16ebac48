// Package pgtest starts a real PostgreSQL server for tests and load tools:
// initdb and postgres from Debian's postgresql-15 package, into a private
// directory, on a free loopback port, TCP only.
//
// PostgreSQL refuses to run as root. When the caller is root (as tests and
// CI are here), initdb and postgres run as the unprivileged user "nobody",
// in a directory made for it and owned by it; otherwise as the caller.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDir holds initdb and postgres (Debian's postgresql-15); the
// GAMEHALL_PG_BIN environment variable overrides it.
var BinDir = "/usr/lib/postgresql/15/bin"

// Options of a server.
type Options struct {
	// Durable keeps fsync on, as in production (benchmarks). Off by
	// default: tests need no safety against an OS crash and run faster
	// without it. Commits still reach the OS before they are acknowledged
	// (synchronous_commit stays on), so a killed postgres loses nothing.
	Durable bool
	// Host is the address it listens on and its URLs name (default
	// 127.0.0.1). Another address (the e2e node's, which its pods reach)
	// also lets in clients of that address's subnet, without a password.
	Host string
	// Log receives progress lines (nil: none).
	Log func(format string, args ...any)
}

// Server is a running postgres owned by its starter.
type Server struct {
	Port int
	dir  string
	opt  Options
	cred *syscall.Credential
	dbs  atomic.Int64

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs a server until the test ends; the test fails with an install
// hint if PostgreSQL is missing.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith is Start with options.
func StartWith(t testing.TB, opt Options) *Server {
	t.Helper()
	s, err := Launch(opt)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func bin(name string) string {
	dir := BinDir
	if d := os.Getenv("GAMEHALL_PG_BIN"); d != "" {
		dir = d
	}
	return filepath.Join(dir, name)
}

// Launch starts a server outside of a test; Close stops it and deletes its files.
func Launch(opt Options) (*Server, error) {
	if _, err := os.Stat(bin("postgres")); err != nil {
		return nil, fmt.Errorf("PostgreSQL not found at %s (%v): run `apt-get install postgresql-15` (or hack/ensure-deps.sh postgres)", bin("postgres"), err)
	}
	dir, err := os.MkdirTemp("", "gamehall-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, opt: opt}
	if os.Geteuid() == 0 {
		if s.cred, err = nobody(); err == nil {
			err = os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid))
		}
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running postgres unprivileged: %w", err)
		}
	}
	start := time.Now()
	if err := s.run("initdb", "-D", s.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if opt.Host != "" {
		if err := s.trustSubnet(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	for range 5 { // the free port may be taken between probe and start
		if s.Port, err = freePort(s.host()); err != nil {
			continue
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.logf("pgtest: postgres on %s ready in %s (data in %s)", net.JoinHostPort(s.host(), strconv.Itoa(s.Port)), time.Since(start).Round(time.Millisecond), dir)
	return s, nil
}

func (s *Server) logf(format string, args ...any) {
	if s.opt.Log != nil {
		s.opt.Log(format, args...)
	}
}

// nobody is the unprivileged user postgres runs as under root.
func nobody() (*syscall.Credential, error) {
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) host() string {
	if s.opt.Host == "" {
		return "127.0.0.1"
	}
	return s.opt.Host
}

// trustSubnet lets clients of Host's subnet in (initdb trusts loopback only).
func (s *Server) trustSubnet() error {
	f, err := os.OpenFile(filepath.Join(s.data(), "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString("host all all samenet trust\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin(name), args...)
	cmd.Dir = s.dir
	// Pdeathsig: a test binary killed by its timeout takes its server along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// run runs a tool to completion, its output kept for the error.
func (s *Server) run(name string, args ...string) error {
	out, err := s.command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, tail(out))
	}
	return nil
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() error {
	args := []string{"-D", s.data(), "-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses=" + s.host(), "-c", "unix_socket_directories=",
		"-c", "max_connections=300", "-c", "shared_buffers=128MB", "-c", "logging_collector=off"}
	if !s.opt.Durable {
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off")
	}
	logPath := filepath.Join(s.dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := s.command("postgres", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited: %s", tail(b))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			c.Close(ctx)
			cancel()
			break
		}
		cancel()
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("postgres on port %d did not answer: %v", s.Port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return nil
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// DSN is the URL of database db on this server.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", net.JoinHostPort(s.host(), strconv.Itoa(s.Port)), db)
}

// CreateDatabase makes a new empty database and returns its URL.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	// The port in the name: should another test's server reuse this port
	// after a Kill, a client of this database finds none there instead of
	// another test's namesake.
	name := fmt.Sprintf("db%d_%d", s.Port, s.dbs.Add(1))
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return s.DSN(name), nil
}

// NewDatabase is CreateDatabase for a test.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := s.CreateDatabase(ctx)
	if err != nil {
		t.Fatalf("pgtest: creating a database: %v", err)
	}
	return dsn
}

// Kill stops the server at once (SIGKILL: a crash, as a dead database looks
// to its clients). Its data stays for Restart. Safe to call twice.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	// Every backend too: each has a process group of its own, and one that
	// has not yet noticed its postmaster's death would still answer. The
	// postmaster is stopped first so that it forks no new one meanwhile.
	pid := cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGSTOP)
	for _, c := range childrenOf(pid) {
		syscall.Kill(c, syscall.SIGKILL)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	<-done
}

// childrenOf lists the processes whose parent is pid (from /proc).
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// Restart starts the killed server again on the same port with its data
// (PostgreSQL recovers from its WAL).
func (s *Server) Restart() error {
	s.Kill()
	var err error
	for range 50 { // the old socket may linger briefly
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("restarting postgres: %w", err)
}

// Close kills the server and deletes its files.
func (s *Server) Close() {
	s.Kill()
	if err := os.RemoveAll(s.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.logf("pgtest: removing %s: %v", s.dir, err)
	}
}
