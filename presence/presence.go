// Package presence is the platform's global list of who is logged in and in
// which room. Login writes sessions; shards write room entries and receive
// kicks for sessions that a newer login superseded. Two implementations:
// Memory (gamehall local) and Redis (a real deployment).
package presence

import (
	"context"
	"errors"
	"time"
)

// Errors callers tell apart with errors.Is.
var (
	// ErrInOtherRoom: the account already holds a room of this game elsewhere.
	ErrInOtherRoom = errors.New("presence: account is already in another room of this game")
	// ErrSessionSuperseded: the session is no longer the account's live session.
	ErrSessionSuperseded = errors.New("presence: session was superseded by a newer login")
	// ErrUnavailable wraps failures of the backing store (e.g. Redis down).
	ErrUnavailable = errors.New("presence: store unavailable")
)

// RoomKey says where an account sits for one game.
type RoomKey struct {
	Shard string // the shard process's identity, e.g. "south-0/1765159200-0a1b2c3d4e5f" (see Beat)
	Room  int    // global room number within the Region (1-based)
}

// Kick tells the shard that holds Session to disconnect it.
type Kick struct {
	Account string
	Session string
	Reason  string // KickReason (disconnect), LogoutReason or MovedReason (give the seat up too)
	// Resync (no account): kicks may have been lost — the subscription was
	// cut and is back. The holder re-checks every session it holds (Refresh).
	Resync bool
}

// Hold is one player a shard holds: the session of its connection, and
// where it sits for Game ("" when it is in no room).
type Hold struct {
	Account string
	Session string
	Game    string
	Room    RoomKey
}

// Beat is the shard a Refresh speaks for, and how long the store counts it
// alive after the call (see Store.Refresh). Liveness is a process's: a
// shard restarted or replaced under the same name must name itself anew
// (the game server adds its epoch), or its beats would keep the dead
// process's entries alive.
type Beat struct {
	Shard string        // RoomKey.Shard of the shard's entries
	Alive time.Duration // a few of the shard's beat periods
}

// Peer is a hall replica's advertisement, used for redirects.
type Peer struct {
	Name    string // replica identity (pod name)
	Address string // base URL clients can reach, e.g. "http://10.0.0.5:8080"
	Clients int    // connected clients now
	Max     int    // max clients
}

// Store is implemented by Memory and Redis. All methods are safe for
// concurrent use. TTLs make entries expire unless their holder refreshes
// them, so a crashed process leaves no ghosts.
type Store interface {
	// Login makes session the account's live session and returns the one it
	// superseded ("" if none). A Kick for the previous session is published.
	Login(ctx context.Context, account, session string, ttl time.Duration) (previous string, err error)
	// LoginIf is Login only if the account's live session is expect (""
	// for none); otherwise nothing changes. It answers the live session it
	// found. Guests, who have no password, hold their name this way: a
	// second guest cannot take it over, its holder can log in again.
	LoginIf(ctx context.Context, account, session, expect string, ttl time.Duration) (live string, ok bool, err error)
	// Logout removes the session if it is still the live one, and publishes
	// a Kick (LogoutReason) for it.
	Logout(ctx context.Context, account, session string) error
	// Session returns the account's live session ("" if none).
	Session(ctx context.Context, account string) (string, error)

	// EnterRoom atomically records (account, game) → where, for the live
	// session. Re-entering the same place is allowed (reconnect); another
	// place of the same session returns ErrInOtherRoom while its shard is
	// alive (see Refresh; a dead shard's place is released); a stale session
	// ErrSessionSuperseded. An older session's place elsewhere yields, and a
	// Kick (MovedReason) tells its holder to give the seat up. A session the
	// store lost (none is live) is restored: the caller holds its ticket.
	EnterRoom(ctx context.Context, account, session, game string, where RoomKey, ttl time.Duration) error
	// LeaveRoom removes the entry if it still points at where.
	LeaveRoom(ctx context.Context, account, game string, where RoomKey) error
	// RoomOf returns where the account sits for game (ok=false if nowhere).
	RoomOf(ctx context.Context, account, game string) (where RoomKey, ok bool, err error)

	// Refresh is a shard's heartbeat: it re-asserts what the shard holds,
	// and is how the store recovers what it lost. The shard (beat.Shard)
	// counts as alive for beat.Alive; an entry of a shard that is not alive
	// is released: the same session may enter elsewhere (EnterRoom), and the
	// shard, if it was only cut off, finds that out on its next Refresh
	// (ErrInOtherRoom). For each hold, the session stays live for at least
	// ttl (restored if the store lost it), and its room entry, if any, at
	// beat.Shard, is refreshed for ttl (restored if lost, taken over from an
	// older session, whose holder is kicked with MovedReason). With no
	// holds, Refresh only keeps the shard alive (its frequent beat).
	// errs[i] is ErrSessionSuperseded when another session of the account is
	// live — the holder disconnects it — and ErrInOtherRoom when the account
	// sits in another room of the game, at an alive shard (the holder gives
	// the seat up). lapsed says the shard was not alive before this call
	// (its liveness lapsed, or the store lost it): its entries may have been
	// taken, and a full Refresh tells which. err is for the store
	// (ErrUnavailable): then nothing is known.
	Refresh(ctx context.Context, beat Beat, holds []Hold, ttl time.Duration) (errs []error, lapsed bool, err error)

	// Kicks delivers Kick notices (for all sessions) until ctx ends, and a
	// Resync notice whenever some may have been lost.
	Kicks(ctx context.Context) (<-chan Kick, error)

	// Advertise publishes a hall replica's load with a TTL; Peers lists the live ones.
	Advertise(ctx context.Context, p Peer, ttl time.Duration) error
	Peers(ctx context.Context) ([]Peer, error)

	Close() error
}
