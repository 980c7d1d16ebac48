// Command gamehall is the one binary of the platform: the operator, the game
// server (shard), the hall, local mode and the bot are its subcommands.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// command is one subcommand. Each lives in its own file and registers itself
// in init, so adding a subcommand touches no other file.
type command struct {
	name  string
	short string                  // one line for `gamehall --help`
	run   func(args []string) int // exit code; prints its own errors
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

func usage() {
	var b strings.Builder
	b.WriteString("gamehall runs a casual game platform: login, a hall of rooms, game-server shards, and the operator that runs them on Kubernetes.\n\n")
	b.WriteString("Usage:\n  gamehall <command> [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  %-12s %s\n", n, commands[n].short)
	}
	b.WriteString("\nRun 'gamehall <command> --help' for a command's flags.\n")
	fmt.Fprint(os.Stderr, b.String())
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch os.Args[1] {
	case "-h", "--help", "help":
		usage()
		return
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "gamehall: unknown command %q; run 'gamehall --help' for the list\n", os.Args[1])
		os.Exit(2)
	}
	os.Exit(c.run(os.Args[2:]))
}

// newRedisClient is the presence store's Redis client for every subcommand:
// short timeouts, so a Redis that stops answering fails a request instead of
// holding it.
func newRedisClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
}
