package gameserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/gamehall/gamehall/game/doudizhu"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/protocol"
	"github.com/gamehall/gamehall/store"
	"github.com/gamehall/gamehall/ticket"
)

// Config is one shard's configuration. Zero fields take the defaults below.
type Config struct {
	Shard         string // identity, e.g. "doudizhu-zone1-south-0"
	Region        string
	Game          string // presence key: one room per account per game
	FirstRoom     int    // global number of the first room (1-based)
	Rooms         int
	RoomCapacity  int
	TablesPerRoom int

	Addr         string // players' port (TCP and WebSocket), e.g. ":7000"; port 0 picks one
	InternalAddr string // occupancy, health, metrics, drain; e.g. ":7001"
	// TLS, if set, is spoken on the players' port: framed TCP and
	// WebSocket (wss) alike; nil: plain (TLS terminated in front, or none).
	TLS *tls.Config

	TurnTimeout    time.Duration // auto-play when a player does not move
	AutoPlayDelay  time.Duration // how long a disconnected seat "thinks"
	ReconnectGrace time.Duration // a dropped player keeps the seat this long during a game
	DrainTimeout   time.Duration // after Drain (going away), Run returns this long later even with players left; 0: waits for them
	ReportInterval time.Duration // Agones reports (players counter, room annotation) at most this often
	PingInterval   time.Duration // clients ping at least this often; 3× is the read deadline
	HelloTimeout   time.Duration
	WriteTimeout   time.Duration // a socket write slower than this disconnects the client
	RoomEventBatch time.Duration // room membership events are batched this long
	// RoomTick: room-wide messages (chat, membership events) wait up to this
	// long and go to each member in one write with the others of the tick;
	// it adds up to RoomTick to their delivery and divides the writes.
	RoomTick    time.Duration
	PresenceTTL time.Duration // sessions and room entries expire unless refreshed (refreshed at TTL/3)
	// AliveTTL: presence counts the shard alive this long after each beat
	// (every AliveTTL/3); once it lapses, the shard's room entries no longer
	// keep its players from entering another shard's room. So a killed
	// shard's players may play elsewhere at most AliveTTL after its last
	// beat, and a live shard is taken for dead only if no beat reaches
	// presence for AliveTTL (a stall of two beat periods and more).
	AliveTTL time.Duration

	// Settlement (with Deps.Store): GAME_OVER waits at most SettleWait for
	// the commit, then goes out pending; each attempt gets
	// SettleAttemptTimeout; while SettleBacklog games are unsettled no new
	// game starts; at exit the backlog gets SettleDrainTimeout to empty.
	SettleWait           time.Duration
	SettleAttemptTimeout time.Duration
	SettleBacklog        int
	SettleDrainTimeout   time.Duration

	MaxFrame     int // bytes of one frame's payload
	WriteQueue   int // frames queued per connection before it counts as slow
	MsgRate      float64
	MsgBurst     int
	ChatMaxRunes int
	ChatRate     float64 // chat messages per second per player
	ChatBurst    int

	// DealSeed gives the secret seed of each game's deals (nil: random,
	// from crypto/rand). Tests replay a known deal with it.
	DealSeed func() doudizhu.Seed
}

func (c *Config) setDefaults() {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	if c.Game == "" {
		c.Game = "doudizhu"
	}
	if c.Shard == "" {
		c.Shard = "shard-0"
	}
	def(&c.FirstRoom, 1)
	def(&c.Rooms, 50)
	def(&c.RoomCapacity, 400)
	def(&c.TablesPerRoom, 100)
	if c.Addr == "" {
		c.Addr = ":7000"
	}
	if c.InternalAddr == "" {
		c.InternalAddr = ":7001"
	}
	defD(&c.TurnTimeout, 20*time.Second)
	defD(&c.AutoPlayDelay, time.Second)
	defD(&c.ReconnectGrace, 60*time.Second)
	defD(&c.ReportInterval, 5*time.Second)
	defD(&c.PingInterval, 20*time.Second)
	defD(&c.HelloTimeout, 10*time.Second)
	defD(&c.WriteTimeout, 10*time.Second)
	defD(&c.RoomEventBatch, 200*time.Millisecond)
	defD(&c.RoomTick, 50*time.Millisecond)
	defD(&c.PresenceTTL, 3*time.Minute)
	defD(&c.AliveTTL, 12*time.Second)
	defD(&c.SettleWait, 2*time.Second)
	defD(&c.SettleAttemptTimeout, 3*time.Second)
	def(&c.SettleBacklog, 10000)
	defD(&c.SettleDrainTimeout, 30*time.Second)
	def(&c.MaxFrame, protocol.DefaultMaxFrame)
	def(&c.WriteQueue, 64)
	if c.MsgRate == 0 {
		c.MsgRate = 20
	}
	def(&c.MsgBurst, 40)
	def(&c.ChatMaxRunes, 200)
	if c.ChatRate == 0 {
		c.ChatRate = 1.0 / 3
	}
	def(&c.ChatBurst, 5)
}

func (c *Config) validate() error {
	var errs []error
	if c.FirstRoom < 1 {
		errs = append(errs, fmt.Errorf("first room must be ≥ 1, got %d", c.FirstRoom))
	}
	if c.Rooms < 1 || c.Rooms > 1000 {
		errs = append(errs, fmt.Errorf("rooms must be in 1..1000, got %d", c.Rooms))
	}
	if c.RoomCapacity < 1 || c.RoomCapacity > 10000 {
		errs = append(errs, fmt.Errorf("room capacity must be in 1..10000, got %d", c.RoomCapacity))
	}
	if c.TablesPerRoom < 1 || c.TablesPerRoom > 1000 {
		errs = append(errs, fmt.Errorf("tables per room must be in 1..1000, got %d", c.TablesPerRoom))
	}
	if c.MaxFrame < 1024 {
		errs = append(errs, fmt.Errorf("max frame must be ≥ 1024 bytes, got %d", c.MaxFrame))
	}
	return errors.Join(errs...)
}

// SDK is the part of the Agones SDK sidecar client the shard uses
// (gameserver/agonessdk implements it). Nil means "not on Agones".
type SDK interface {
	Ready(ctx context.Context) error
	Health(ctx context.Context) error
	Allocate(ctx context.Context) error
	Shutdown(ctx context.Context) error
	SetCounter(ctx context.Context, name string, count, capacity int64) error
	SetLabel(ctx context.Context, key, value string) error
	SetAnnotation(ctx context.Context, key, value string) error
	// WatchDrain calls fn with the operator's drain request (its draining
	// label and deadline annotation) once, then on every change; it returns
	// when ctx ends.
	WatchDrain(ctx context.Context, fn func(DrainRequest)) error
}

// Deps are the shard's collaborators.
type Deps struct {
	Verifier ticket.Verifier // player tickets (Hello) and service tickets (internal port)
	Presence presence.Store
	SDK      SDK // nil: Agones off
	// Store settles finished games in the region's database (a
	// store.Store or a store.Lazy); nil: games are not rated (GAME_OVER
	// carries no balances).
	Store  Settler
	Logger logr.Logger
}

// Settler pays a finished game out (store.Regions.Settle).
type Settler interface {
	Settle(ctx context.Context, s store.Settlement) (store.Settled, error)
}
