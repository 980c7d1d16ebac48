package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"

	"github.com/gamehall/gamehall/bot"
)

func init() {
	register(command{name: "bot", short: "play simulated players against a hall (load test, demo)", run: runBot})
}

const botHelp = `Usage: gamehall bot [--hall URL] --players N [--duration D] [--region R] [flags]

Plays N simulated players. Each logs in as a guest, watches a region's room
directory, picks a room as a person would (not empty, not nearly full, some
chance), enters it (on ROOM_FULL it tries another and counts it), takes a
seat, plays Dou Dizhu with a legal and sensible strategy, chats now and then,
leaves after a few games and comes back after a break. Players start at
--ramp per second.

A progress line shows players online and seated, games finished and entry
failures; at the end (--duration, or Ctrl-C: players finish their game and
leave; Ctrl-C again: they disconnect at once) a summary reports entries, the
ROOM_FULL rate, latency percentiles (login, directory, room entry, move
delivery), games per second and protocol errors. The exit status is 1 when
there were protocol errors.

Move delivery is the time from sending a bid or play to receiving the
server's event for it, which reaches the whole table in the same broadcast.

Each connected player holds one socket: the soft limit on open files is
raised to the hard limit at start, and --players beyond it are kept offline
in turn (see the note printed). Run several bot processes for more.

Flags:
`

func runBot(args []string) int {
	fs := pflag.NewFlagSet("bot", pflag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, botHelp+fs.FlagUsages()) }
	var cfg bot.Config
	fs.StringVar(&cfg.HallURL, "hall", "http://127.0.0.1:8080", "login and hall base URL")
	fs.IntVar(&cfg.Players, "players", 100, "simulated players")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
	fs.StringVar(&cfg.Region, "region", "", "region to play in (default: each player picks one of the hall's)")
	fs.Float64Var(&cfg.Ramp, "ramp", 200, "players started per second")
	fs.DurationVar(&cfg.Think, "think", time.Second, "mean time a player takes per move (each move: uniform in [think/2, 3·think/2])")
	fs.IntVar(&cfg.MinGames, "min-games", 2, "fewest games a player plays per visit")
	fs.IntVar(&cfg.MaxGames, "max-games", 5, "most games a player plays per visit")
	fs.DurationVar(&cfg.Break, "break", 15*time.Second, "mean pause between a player's visits (exponentially distributed)")
	fs.Float64Var(&cfg.ChatChance, "chat", 0.1, "chance of a table chat after each game")
	fs.DurationVar(&cfg.LeaveGrace, "leave-grace", 60*time.Second, "at the end, how long players may finish their game before leaving anyway")
	fs.StringVar(&cfg.Prefix, "prefix", "", "account name prefix (default bot-<random>)")
	fs.IntVar(&cfg.MaxOnline, "max-online", 0, "players connected at once (default: what the file descriptor limit allows)")
	fs.DurationVar(&cfg.DropEvery, "drop-every", 0, "mean time after which a player in a game drops its connection, as a flaky network would, and resumes its seat (0: never)")
	fs.DurationVar(&cfg.TableWait, "table-wait", 30*time.Second, "a player whose table started no game for this long leaves the room and picks another (a draining shard gets no new players)")
	fs.DurationVar(&cfg.HeldRetry, "held-retry", 0, "a player refused IN_OTHER_ROOM (its seat elsewhere still held, e.g. by a shard that died) tries again with the same ticket every second for this long (0: the visit ends; the next logs in anew)")
	fs.DurationVar(&cfg.ResumeWithin, "resume-within", 10*time.Second, "how long a player whose connection was lost tries to get its seat back (keep it under the shard's reconnect grace)")
	events := fs.String("events", "", "write one JSON line per connection ended in a room, resume and return to the hall to this file (for fault tests; see bot.Event)")
	verbose := fs.BoolP("verbose", "v", false, "debug logs (failed logins, lost connections)")
	quiet := fs.BoolP("quiet", "q", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gamehall bot: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	out := newStatusWriter(os.Stderr)
	level := slog.LevelInfo
	if *verbose {
		level = -4
	}
	cfg.Log = logr.FromSlogHandler(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))

	soft, hard, ferr := raiseFDLimit()
	if ferr != nil {
		fmt.Fprintf(out, "note: file descriptor limit: %v\n", ferr)
	}
	// One socket per connected player, plus the directory and login
	// sockets of players arriving, plus a margin for the runtime.
	if allowed := int(soft) - 300; cfg.MaxOnline == 0 && soft > 0 && cfg.Players > allowed {
		cfg.MaxOnline = max(allowed, 1)
		fmt.Fprintf(out, "note: open-file limit %d (hard %d): at most %d of the %d players are online at once, the others wait their turn; raise the hard limit (ulimit -Hn as root, LimitNOFILE=, limits.conf) or run several bot processes\n",
			soft, hard, cfg.MaxOnline, cfg.Players)
	}
	if *events != "" {
		f, err := os.Create(*events)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gamehall bot: --events: %v\n", err)
			return 2
		}
		defer f.Close()
		cfg.Events = f
	}
	r, err := bot.New(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gamehall bot: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		<-sig
		out.done()
		fmt.Fprintf(out, "stopping: players finish their game and leave (up to %s; Ctrl-C again to disconnect now)\n", cfg.LeaveGrace)
		r.Stop()
		<-sig
		cancel()
	}()
	fmt.Fprintf(out, "%d players against %s, %.0f/s ramp\n", cfg.Players, cfg.HallURL, cfg.Ramp)
	done := make(chan struct{})
	var wg sync.WaitGroup
	if !*quiet {
		wg.Go(func() { out.repaint(done, r.Stats().Progress) })
	}
	st, err := r.Run(ctx)
	close(done)
	wg.Wait()
	fmt.Fprint(os.Stdout, st.Summary())
	if err != nil {
		fmt.Fprintf(os.Stderr, "gamehall bot: %v\n", err)
		return 1
	}
	if st.Logins.Load() == 0 {
		fmt.Fprintf(os.Stderr, "gamehall bot: no player could log in at %s (is 'gamehall local' running?)\n", cfg.HallURL)
		return 1
	}
	return 0
}
