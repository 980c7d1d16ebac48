package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"

	v1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/local"
	"github.com/gamehall/gamehall/presence"
)

func init() {
	register(command{name: "local", short: "run login, the hall and every Region's shards in one process (try the platform)", run: runLocal})
}

const localHelp = `Usage: gamehall local [-f FILE|DIR]... [flags]

Runs the whole platform in this process: login (guest mode: any free name, no
password; sign-up at POST /v1/accounts), the hall, and the game-server shards
of every Region found in the given YAML — the same files 'kubectl apply -f'
takes. Each Region is admitted
with the CRD's own schema and rules (defaults, validation, CEL), so a Region
the API server would refuse is refused here with the same message and its
file:line. Other kinds (Hall, kustomization files) are skipped with a note.

Shards are scaled by the operator's policy: one is added (on a free loopback
port) when occupancy passes the Region's target, and the emptiest is drained
after the scale-down delay and stopped once empty. Presence is in memory
unless --redis is given.

Players' data lasts across restarts, in SQLite files under --data: the
accounts in the file a Hall's login.accountsDatabase names (gamehall.db if
none), each Region's balances, leaderboard and game records in the file its
database Secret names (<secretName>.db), or in the accounts file when it
names none. Regions naming the same Secret share a file, as they would share
a database on Kubernetes. The files are migrated at start.

Ctrl-C drains: no new room entries, players get --shutdown-grace to finish,
then everyone is disconnected. A second Ctrl-C stops at once.

Play against it with:  gamehall bot --hall http://127.0.0.1:8080 --players 2000

Flags:
`

func runLocal(args []string) int {
	fs := pflag.NewFlagSet("local", pflag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, localHelp+fs.FlagUsages()) }
	files := fs.StringArrayP("filename", "f", []string{"config/samples"}, "Region YAML file or directory (repeatable; multi-document files are fine)")
	listen := fs.String("listen", "127.0.0.1:8080", "address of login and the hall")
	internalListen := fs.String("internal-listen", "127.0.0.1:8081", "address of /metrics and /debug/pprof")
	shardHost := fs.String("shard-host", "127.0.0.1", "interface the shards listen on, and the address clients are sent to")
	redisAddr := fs.String("redis", "", "Redis host:port for presence (default: in memory)")
	redisPrefix := fs.String("redis-prefix", "gamehall:", "prefix of every presence key in Redis")
	scaleEvery := fs.Duration("scale-every", time.Second, "how often each Region's scaling policy runs")
	grace := fs.Duration("shutdown-grace", 10*time.Second, "on Ctrl-C, how long players may finish before they are disconnected")
	dataDir := fs.String("data", defaultDataDir(), "directory of the players' data (SQLite files, kept across restarts)")
	keyDir := fs.String("keys", "", "ticket keys as 'gamehall keys new --dir' writes them (signing/, verification/), re-read every --key-reload (default: a fresh key per run)")
	keyReload := fs.Duration("key-reload", 0, "how often --keys is re-read (default 30s)")
	verbose := fs.BoolP("verbose", "v", false, "debug logs")
	quiet := fs.BoolP("quiet", "q", false, "no live status line")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gamehall local: unexpected argument %q (files go after -f)\n", fs.Arg(0))
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "gamehall local: "+format+"\n", a...)
		return 1
	}

	loaded, notes, err := local.LoadRegions(*files)
	if err != nil {
		return fail("%v", err)
	}
	accountsDB, err := local.AccountsDatabase(*files)
	if err != nil {
		return fail("%v", err)
	}
	out := newStatusWriter(os.Stderr)
	level := slog.LevelInfo
	if *verbose {
		level = -4
	}
	log := logr.FromSlogHandler(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))
	for _, n := range notes {
		fmt.Fprintf(out, "note: %s\n", n)
	}
	var regions []v1.Region
	for _, r := range loaded {
		regions = append(regions, r.Region)
		s := r.Region.Spec
		fmt.Fprintf(out, "region %s (%s, from %s): %d–%d shards of %d rooms × %d players, target %d%%, scale-down delay %s\n",
			r.Region.Name, r.Region.Title(), r.Where, s.MinShards, s.MaxShards, s.RoomsPerShard, s.RoomCapacity,
			s.Scaling.TargetOccupancyPercent, s.Scaling.ScaleDownDelayDuration())
	}
	soft, hard, ferr := raiseFDLimit()
	if ferr != nil {
		fmt.Fprintf(out, "note: file descriptor limit: %v\n", ferr)
	} else if soft < 65536 {
		// One socket per player in a room, plus the logins and directory
		// streams of players arriving (measured: ~15 % at a 250/s ramp).
		fmt.Fprintf(out, "note: open-file limit %d (hard %d): room for about %d players at once; for more, raise the hard limit (ulimit -Hn as root, LimitNOFILE=, limits.conf)\n",
			soft, hard, soft*85/100)
	}

	var store presence.Store
	if *redisAddr != "" {
		rc := newRedisClient(*redisAddr)
		pctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := rc.Ping(pctx).Err()
		cancel()
		if err != nil {
			rc.Close()
			return fail("redis %s: %v", *redisAddr, err)
		}
		r := presence.NewRedis(rc, *redisPrefix)
		defer r.Close()
		store = r
	}
	l, err := local.New(local.Config{Regions: regions, Listen: *listen, InternalListen: *internalListen, ShardHost: *shardHost, Presence: store,
		ScaleEvery: *scaleEvery, ShutdownGrace: *grace, DataDir: *dataDir, AccountsDatabase: accountsDB, Log: log,
		KeyDir: *keyDir, KeyReload: *keyReload})
	if err != nil {
		return fail("%v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := l.Start(ctx); err != nil {
		return fail("%v", err)
	}
	acctDB, regionDBs := l.Databases()
	fmt.Fprintf(out, "data in %s: accounts in %s", *dataDir, filepath.Base(acctDB))
	for _, r := range regions {
		fmt.Fprintf(out, "; %s in %s", r.Name, filepath.Base(regionDBs[r.Name]))
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "\ngamehall is running. Hall and login: %s\n", l.HallURL())
	fmt.Fprintf(out, "  play:      open %s/ in a browser\n", l.HallURL())
	if ops, err := l.OpsURL(); err == nil {
		fmt.Fprintf(out, "  operate:   open %s\n", ops)
	}
	fmt.Fprintf(out, "  players:   gamehall bot --hall %s --players 2000\n", l.HallURL())
	fmt.Fprintf(out, "  directory: curl -s -X POST %s/v1/login -d '{\"account\":\"me\"}'  (then GET /v1/regions with the ticket)\n", l.HallURL())
	fmt.Fprintf(out, "  players:   %s/v1/me, %s/v1/regions/%s/leaderboard (with the ticket)\n", l.HallURL(), l.HallURL(), regions[0].Name)
	fmt.Fprintf(out, "  metrics:   %s/metrics (profiles: %s/debug/pprof/)\nCtrl-C drains and stops.\n\n", l.InternalURL(), l.InternalURL())

	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		<-sig
		out.done()
		fmt.Fprintf(out, "\nstopping: draining shards (up to %s; Ctrl-C again to stop now)\n", *grace)
		cancel()
		<-sig
		l.StopNow()
	}()
	statusDone := make(chan struct{})
	var wg sync.WaitGroup
	if !*quiet {
		wg.Go(func() { out.repaint(statusDone, func() string { return regionStatus(l) }) })
	}
	err = l.Run(ctx)
	close(statusDone)
	wg.Wait()
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintln(out, "stopped")
	return 0
}

// defaultDataDir is where local mode keeps players' data unless told:
// $XDG_DATA_HOME/gamehall, or ~/.local/share/gamehall.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "gamehall")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "gamehall")
	}
	return "gamehall-data"
}

// regionStatus is local mode's status line: shards and occupancy per Region.
func regionStatus(l *local.Local) string {
	var parts []string
	for _, r := range l.Status() {
		occ := int64(0)
		if r.Capacity > 0 {
			occ = r.Players * 100 / r.Capacity
		}
		s := fmt.Sprintf("%s: %d shards", r.Name, r.Shards)
		if r.DrainingShards > 0 {
			s += fmt.Sprintf(" (%d draining)", r.DrainingShards)
		}
		s += fmt.Sprintf(", %d players (%d%%)", r.Players, occ)
		parts = append(parts, s)
	}
	return time.Now().Format("15:04:05") + "  " + strings.Join(parts, " | ")
}

// statusWriter lets log lines and a repainted status line share a terminal:
// a log line first erases the status line, which the next tick repaints.
type statusWriter struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	shown bool
}

func newStatusWriter(f *os.File) *statusWriter {
	st, err := f.Stat()
	return &statusWriter{w: f, tty: err == nil && st.Mode()&os.ModeCharDevice != 0}
}

func (s *statusWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shown {
		io.WriteString(s.w, "\r\033[K")
		s.shown = false
	}
	return s.w.Write(p)
}

func (s *statusWriter) status(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tty {
		io.WriteString(s.w, line+"\n")
		return
	}
	io.WriteString(s.w, "\r\033[K"+line)
	s.shown = true
}

// repaint shows line() as the status line every second on a terminal, or
// prints it every 10 seconds otherwise, until done is closed.
func (s *statusWriter) repaint(done <-chan struct{}, line func() string) {
	every := time.Second
	if !s.tty {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			s.done()
			return
		case <-t.C:
			s.status(line())
		}
	}
}

// done ends the status line so the next output starts on its own line.
func (s *statusWriter) done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shown {
		io.WriteString(s.w, "\n")
		s.shown = false
	}
}

// raiseFDLimit lifts the soft limit on open files to the hard limit: every
// player is a socket, and the usual soft limit of 1024 stops a run early.
func raiseFDLimit() (soft, hard uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, err
	}
	if rl.Cur < rl.Max {
		want := rl
		want.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return rl.Cur, rl.Max, fmt.Errorf("raising %d to %d: %w", rl.Cur, rl.Max, err)
		}
		rl = want
	}
	return rl.Cur, rl.Max, nil
}
