package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/gameserver/agonessdk"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/store"
	"github.com/gamehall/gamehall/ticket"
)

func init() {
	register(command{name: "gameserver", short: "run a game-server shard (rooms, tables, players' TCP/WebSocket port)", run: runGameServer})
}

func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
		fmt.Fprintf(os.Stderr, "gamehall gameserver: ignoring %s=%q: not a number\n", name, v)
	}
	return def
}

const gameserverHelp = `Usage: gamehall gameserver [flags]

Runs one game-server shard: its rooms and tables, the players' TCP and
WebSocket (/ws) port, and the internal port (health, metrics, occupancy,
drain). The operator runs it as an Agones GameServer and sets most flags
through their GAMEHALL_* environment variables.

Flags:
`

func runGameServer(args []string) int {
	fs := pflag.NewFlagSet("gameserver", pflag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, gameserverHelp+fs.FlagUsages()) }
	shard := fs.String("shard", envStr("GAMEHALL_SHARD", "shard-0"), "shard identity, recorded in presence (env GAMEHALL_SHARD)")
	region := fs.String("region", envStr("GAMEHALL_REGION", ""), "region name (env GAMEHALL_REGION)")
	game := fs.String("game", envStr("GAMEHALL_GAME", "doudizhu"), "game (env GAMEHALL_GAME)")
	firstRoom := fs.Int("first-room", envInt("GAMEHALL_FIRST_ROOM", 1), "global number of this shard's first room (env GAMEHALL_FIRST_ROOM)")
	rooms := fs.Int("rooms", envInt("GAMEHALL_ROOMS", 50), "rooms on this shard (env GAMEHALL_ROOMS)")
	capacity := fs.Int("room-capacity", envInt("GAMEHALL_ROOM_CAPACITY", 400), "players per room (env GAMEHALL_ROOM_CAPACITY)")
	tables := fs.Int("tables-per-room", envInt("GAMEHALL_TABLES_PER_ROOM", 100), "tables per room (env GAMEHALL_TABLES_PER_ROOM)")
	port := fs.Int("port", envInt("GAMEHALL_PORT", 7000), "players' TCP and WebSocket (/ws) port; 0 picks one (env GAMEHALL_PORT)")
	tlsCert := fs.String("tls-cert", envStr("GAMEHALL_TLS_CERT", ""), "certificate (PEM) for TLS on the players' port, TCP and WebSocket alike, reloaded when it changes (a mounted Secret's tls.crt; env GAMEHALL_TLS_CERT); unset: plain, e.g. behind a TLS-terminating load balancer")
	tlsKey := fs.String("tls-key", envStr("GAMEHALL_TLS_KEY", ""), "its private key (PEM; env GAMEHALL_TLS_KEY)")
	iport := fs.Int("internal-port", envInt("GAMEHALL_INTERNAL_PORT", 7001), "internal port: /healthz /readyz /metrics /v1/occupancy /v1/drain; 0 picks one (env GAMEHALL_INTERNAL_PORT)")
	keyDir := fs.String("verification-keys", envStr("GAMEHALL_VERIFICATION_KEYS", ""), "directory of the ticket verification keys, <key id>.pem Ed25519 public keys (env GAMEHALL_VERIFICATION_KEYS; required). A shard holds no private key")
	keyReload := fs.Duration("key-reload", ticket.DefaultReload, "how often the verification keys are re-read: a removed key is refused within the kubelet's Secret sync plus this")
	redisAddr := fs.String("redis", envStr("GAMEHALL_REDIS", ""), "Redis host:port for presence (env GAMEHALL_REDIS); empty: in memory, for trying things out")
	redisPrefix := fs.String("redis-prefix", "gamehall:", "prefix of every presence key in Redis")
	turn := fs.Duration("turn-timeout", 20*time.Second, "a player who does not move in time is auto-played")
	grace := fs.Duration("reconnect-grace", 60*time.Second, "a dropped player keeps the seat this long during a game")
	drainTimeout := fs.Duration("drain-timeout", 0, "after SIGTERM, exit at the latest this long later, cutting off the players left (0: wait for them; on Kubernetes the pod's grace period bounds it). The operator's drains carry their own deadline: the Region's drainTimeout")
	report := fs.Duration("report-interval", 5*time.Second, "Agones counters are updated at most this often")
	roomTick := fs.Duration("room-tick", 50*time.Millisecond, "room chat and membership events are gathered this long and sent to each member in one write")
	db := addDatabaseFlags(fs, "the Region's database, where games are settled (empty: games are not rated)")
	settleWait := fs.Duration("settle-wait", 2*time.Second, "GAME_OVER waits this long for the settlement to commit, then goes out pending (the result is kept and retried)")
	settleBacklog := fs.Int("settle-backlog", 10000, "unsettled games the shard keeps while the database is down; at this many, new games wait")
	sdkPoll := fs.Duration("sdk-poll-interval", time.Second, "how often the GameServer is read through the Agones SDK for the operator's drain requests (the fault suite raises it to widen the window in which a shard marked for drain still takes entries)")
	verbose := fs.Int("v", 0, "log verbosity (1: connection-level events)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	log := logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(-*verbose)}))
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "gamehall gameserver: "+format+"\n", a...)
		return 1
	}
	if *keyDir == "" {
		return fail("--verification-keys (or GAMEHALL_VERIFICATION_KEYS) is required")
	}
	keys, err := ticket.LoadKeySet(*keyDir)
	if err != nil {
		return fail("%v", err)
	}
	var pres presence.Store
	if *redisAddr != "" {
		pres = presence.NewRedis(newRedisClient(*redisAddr), *redisPrefix)
	} else {
		log.Info("no --redis: presence is in memory; players must log in through this process, so use it for tests only")
		pres = presence.NewMemory()
	}
	defer pres.Close()

	dsn, err := db.resolve()
	if err != nil {
		return fail("%v", err)
	}
	settler, closeDB, err := openSettler(dsn, log)
	if err != nil {
		return fail("%v", err)
	}
	defer closeDB()

	var sdk gameserver.SDK
	if p := envInt("AGONES_SDK_HTTP_PORT", 0); p != 0 {
		c := agonessdk.New(p)
		c.PollInterval = *sdkPoll
		sdk = agonesSDK{Client: c, log: log}
		log.Info("agones SDK on", "port", p)
	}
	tlsCfg, err := optionalTLS(*tlsCert, *tlsKey)
	if err != nil {
		return fail("%v", err)
	}
	srv, err := gameserver.New(gameserver.Config{
		Shard: *shard, Region: *region, Game: *game, FirstRoom: *firstRoom, Rooms: *rooms, RoomCapacity: *capacity,
		TablesPerRoom: *tables, Addr: ":" + strconv.Itoa(*port), InternalAddr: ":" + strconv.Itoa(*iport),
		TurnTimeout: *turn, ReconnectGrace: *grace, DrainTimeout: *drainTimeout, ReportInterval: *report, RoomTick: *roomTick,
		SettleWait: *settleWait, SettleBacklog: *settleBacklog, TLS: tlsCfg,
	}, gameserver.Deps{Verifier: keys, Presence: pres, SDK: sdk, Store: settler, Logger: log})
	if err != nil {
		return fail("%v", err)
	}
	if err := srv.Listen(); err != nil {
		return fail("%v", err)
	}
	// SIGTERM drains (games finish, Run returns when empty); a second signal
	// stops at once.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ticket.ReloadEvery(ctx, *keyReload, log.WithName("keys"), func() (bool, error) { return keys.Reload(*keyDir) },
		func() []any { return []any{"keys", keys.KeyIDs()} })
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-sig
		srv.Drain()
		<-sig
		log.Info("second signal: stopping now")
		cancel()
	}()
	if err := srv.Run(ctx); err != nil {
		return fail("%v", err)
	}
	return 0
}

// openSettler opens the Region's database, where games are settled. The
// shard starts while it is down: games go on and their results wait in the
// backlog. An old schema or a bad URL is a mistake to fix before starting.
// No dsn: games are not rated.
func openSettler(dsn string, log logr.Logger) (gameserver.Settler, func(), error) {
	if dsn == "" {
		log.Info("no database (GAMEHALL_DATABASE_URL: does the Region name one, and is its Secret there?): games are not rated, no balances or records")
		return nil, func() {}, nil
	}
	lazy := store.NewLazy(dsn, store.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := lazy.Get(ctx)
	cancel()
	switch {
	case errors.Is(err, store.ErrSchema), errors.Is(err, store.ErrInvalid):
		lazy.Close()
		return nil, nil, err
	case err != nil:
		log.Error(err, "the database is unavailable at start: games are played and their results kept until it answers")
	default:
		log.Info("settling games in", "database", store.Redact(dsn))
	}
	return lazy, func() { lazy.Close() }, nil
}

// agonesSDK adapts agonessdk.Client to gameserver.SDK: the shard reads the
// operator's drain request (controllers/roomshard_drain.go) from its
// GameServer's labels and annotations.
type agonesSDK struct {
	*agonessdk.Client
	log logr.Logger
}

func (a agonesSDK) WatchDrain(ctx context.Context, fn func(gameserver.DrainRequest)) error {
	var last *gameserver.DrainRequest
	return a.Client.WatchMetadata(ctx, func(m agonessdk.ObjectMeta) {
		req := gameserver.DrainRequest{Draining: m.Labels[gamehallv1.LabelDraining] == "true"}
		if v := m.Annotations[gamehallv1.AnnotationDrainDeadline]; v != "" && req.Draining {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				a.log.Error(err, "ignoring an unreadable drain deadline: waiting for the last player", "annotation", gamehallv1.AnnotationDrainDeadline, "value", v)
			}
			req.Deadline = t
		}
		if last == nil || *last != req {
			last = &req
			fn(req)
		}
	})
}
