// Command kubectl-gamehall is a kubectl plugin (`kubectl gamehall …`) for the
// gamehall platform's admins: the live room table of a Region as its hall
// serves it, and the Regions and shards at a glance. It talks to the
// cluster through the user's kubeconfig, as kubectl does, and reaches a hall
// through the API server's service proxy, so it works wherever kubectl
// works. Build it with `make kubectl-plugin`, put it on the PATH with
// `make install-plugin`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

const usage = `kubectl gamehall: the gamehall platform's rooms and shards.

Usage:
  kubectl gamehall rooms REGION [flags]   the live per-room table of REGION, from a hall
  kubectl gamehall top [flags]            the Regions and their shards at a glance
  kubectl gamehall help [COMMAND]         this help, or a command's

Flags of every command:
  -n, --namespace NS   the namespace of the Regions and Halls (default: the kubeconfig context's)
  --kubeconfig PATH    the kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)
  --context NAME       the kubeconfig context to use
  --request-timeout D  give up on the cluster after D (default 30s)

Examples:
  kubectl gamehall rooms doudizhu-zone1-south
  kubectl gamehall rooms doudizhu-zone1-south --state full
  kubectl gamehall top -A
`

const roomsUsage = `kubectl gamehall rooms REGION: the live per-room table of REGION.

Asks a hall replica of the Hall that lists REGION (the Region's status.hall,
or --hall) for the rooms it offers players, through the API server's
service proxy (/api/v1/namespaces/NS/services/HALL-hall:client/proxy/...).
The hall answers only signed tickets: the plugin signs a one-minute service
ticket with the Hall's signing keys, read from its Secret, so it needs get
on services/proxy and on that Secret, as a cluster admin has. Rooms of a
draining shard are not listed: the hall no longer offers them.

Columns: ROOM, SHARD (the RoomShard hosting it), PLAYERS, CAPACITY, FREE
(seats left), STATE (Full or Open).

Flags:
  --hall NAME      ask this Hall's replicas (default: the Region's status.hall)
  --state STATE    only rooms in STATE: full or open
  -o, --output F   table (default) or json (the hall's document as it came)
  (and the flags of every command: kubectl gamehall help)
`

const topUsage = `kubectl gamehall top: the Regions and their shards at a glance.

Reads the Regions' and RoomShards' status (what the operator and the game
servers last reported; the rooms per shard arrive at the game servers'
report cadence, 5 s). Needs list on regions and roomshards.

The Regions table: SHARDS (all, draining ones included), READY, UP-TO-DATE
(on the current template; an upgrade replaces the rest), DRAINING, PLAYERS,
CAPACITY (seats in ready shards), OCCUPANCY, FULL ROOMS, HALL.
The shards table: ROOMS, PLAYERS, CAPACITY, FULL (rooms), STATE (the
GameServer's), DRAIN, UP-TO-DATE.

Flags:
  -A, --all-namespaces   every namespace
  (and the flags of every command: kubectl gamehall help)
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is the plugin; it returns the exit code (2: bad usage).
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		if len(rest) > 0 {
			fmt.Fprint(stdout, commandUsage(rest[0]))
		} else {
			fmt.Fprint(stdout, usage)
		}
		return 0
	case "rooms", "top":
	default:
		fmt.Fprintf(stderr, "kubectl gamehall: unknown command %q: use rooms or top (kubectl gamehall help)\n", cmd)
		return 2
	}

	fs := flag.NewFlagSet("kubectl gamehall "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o options
	fs.StringVar(&o.namespace, "namespace", "", "")
	fs.StringVar(&o.namespace, "n", "", "")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "")
	fs.StringVar(&o.context, "context", "", "")
	fs.DurationVar(&o.timeout, "request-timeout", 30*time.Second, "")
	fs.StringVar(&o.hall, "hall", "", "")
	fs.StringVar(&o.state, "state", "", "")
	fs.StringVar(&o.output, "output", "table", "")
	fs.StringVar(&o.output, "o", "table", "")
	fs.BoolVar(&o.allNamespaces, "all-namespaces", false, "")
	fs.BoolVar(&o.allNamespaces, "A", false, "")
	positional, err := parseInterspersed(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, commandUsage(cmd))
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "kubectl gamehall %s: %v (kubectl gamehall help %s)\n", cmd, err, cmd)
		return 2
	}
	if msg := checkArgs(cmd, positional, o); msg != "" {
		fmt.Fprintln(stderr, msg)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	c, err := connect(o)
	if err == nil {
		if cmd == "rooms" {
			err = rooms(ctx, c, positional[0], o, stdout)
		} else {
			err = top(ctx, c, o, stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "kubectl gamehall %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// checkArgs says what is wrong with a command's arguments and flags (""
// when nothing is): flags of the other command are refused, not ignored.
func checkArgs(cmd string, positional []string, o options) string {
	switch {
	case cmd == "rooms" && len(positional) != 1:
		return "kubectl gamehall rooms: name one Region, e.g. `kubectl gamehall rooms doudizhu-zone1-south` (`kubectl get regions -A` lists them)"
	case cmd == "top" && len(positional) != 0:
		return fmt.Sprintf("kubectl gamehall top: takes no arguments, got %q (for one namespace: -n NS)", strings.Join(positional, " "))
	case cmd == "top" && (o.hall != "" || o.state != "" || o.output != "table"):
		return "kubectl gamehall top: --hall, --state and -o are rooms' flags (for the objects: kubectl get regions,roomshards -o yaml)"
	case o.state != "" && o.state != "full" && o.state != "open":
		return fmt.Sprintf("kubectl gamehall rooms: --state must be full or open, not %q", o.state)
	case cmd == "rooms" && o.output != "table" && o.output != "json":
		return fmt.Sprintf("kubectl gamehall rooms: -o must be table or json, not %q", o.output)
	case cmd == "rooms" && o.allNamespaces:
		return "kubectl gamehall rooms: a Region lives in one namespace: pick it with -n, not -A"
	}
	return ""
}

// commandUsage is cmd's help, or the plugin's for an unknown cmd.
func commandUsage(cmd string) string {
	switch cmd {
	case "rooms":
		return roomsUsage
	case "top":
		return topUsage
	}
	return usage
}

type options struct {
	namespace, kubeconfig, context string
	timeout                        time.Duration
	hall, state, output            string
	allNamespaces                  bool
}

// parseInterspersed parses flags before and after positional arguments,
// as kubectl does (`rooms south -n games`).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// kubeconfigError says what to do when no cluster is configured.
func kubeconfigError(err error) error {
	if clientcmd.IsEmptyConfig(err) {
		return fmt.Errorf("no cluster configured: set KUBECONFIG or pass --kubeconfig (the plugin uses kubectl's configuration): %w", err)
	}
	return fmt.Errorf("reading the kubeconfig: %w", err)
}
