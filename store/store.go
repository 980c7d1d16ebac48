// Package store keeps the players' data that lasts: accounts (in the login's
// database) and, per region, balances, stats, the settlement ledger and the
// records of finished games. One interface, two implementations: PostgreSQL
// for clusters and SQLite (pure Go, one file) for `gamehall local`;
// store/storetest is the conformance suite both pass.
//
// A region's data is keyed by the region's name, so several Regions may share
// one database or each have its own; no method reads two regions at once.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// StartingCoins is a player's balance before their first game in a region.
const StartingCoins = 1000

// Errors callers switch on (wrapped with details).
var (
	ErrNotFound      = errors.New("store: not found")
	ErrAccountExists = errors.New("store: account exists")
	// ErrUnavailable: the database could not be reached or did not answer
	// in time; the operation may be retried.
	ErrUnavailable = errors.New("store: database unavailable")
	// ErrInvalid: the request itself is wrong; retrying cannot help.
	ErrInvalid = errors.New("store: invalid request")
	// ErrConflict: the game was settled before with a different result.
	ErrConflict = errors.New("store: game already settled with a different result")
	// ErrSchema: the database's schema is older than this program needs.
	ErrSchema = errors.New("store: database schema is not up to date")
)

// Store is one database: the accounts of a login and the data of any number
// of regions.
type Store interface {
	Accounts
	Regions
	// Kind is "postgres" or "sqlite".
	Kind() string
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// Source says where an account came from.
type Source string

// Account sources.
const (
	SourceSignup Source = "signup" // POST /v1/accounts
	SourceAdmin  Source = "admin"  // gamehall account add
	SourceFile   Source = "file"   // imported from an accounts file
	SourceGuest  Source = "guest"  // a guest name, claimed at its first login (no password)
)

// Account is a login identity.
type Account struct {
	Name         string
	PasswordHash []byte // bcrypt; nil for a guest
	Source       Source
	Disabled     bool
	CreatedAt    time.Time
}

// Accounts are kept in the login's database.
type Accounts interface {
	// CreateAccount adds a new account; ErrAccountExists if the name is taken.
	CreateAccount(ctx context.Context, a Account) error
	// Account returns the account; ErrNotFound if there is none.
	Account(ctx context.Context, name string) (Account, error)
	// PutAccount creates the account or replaces its password hash and
	// source (an administrator's `gamehall account add`); it reports
	// whether the account is new. Disabled is left as it was.
	PutAccount(ctx context.Context, a Account) (created bool, err error)
	// SetDisabled disables or re-enables an account; ErrNotFound if none.
	SetDisabled(ctx context.Context, name string, disabled bool) error
	// ClaimGuest records name as a guest's if no account has it, and
	// returns the account that holds the name (the guest's, or an older one).
	ClaimGuest(ctx context.Context, name string) (Account, error)
	// ImportAccounts brings an accounts file in: names not in the store are
	// added (source file), file-sourced accounts get the file's hash, and
	// accounts of any other source are left alone (listed in Skipped).
	ImportAccounts(ctx context.Context, accts []Account) (ImportResult, error)
}

// ImportResult counts what ImportAccounts did.
type ImportResult struct {
	Added, Updated, Unchanged int
	Skipped                   []string // names held by a non-file account
}

// Role is a seat's part in a game.
type Role int8

// Roles.
const (
	RoleNone     Role = 0 // the game ended during bidding (an escape)
	RoleLandlord Role = 1
	RoleFarmer   Role = 2
)

// Seat is one player's outcome of a game.
type Seat struct {
	Account string
	Role    Role
	// Delta is what the seat won (>0) or lost (<0): the score, and the coins.
	Delta int64
}

// Settlement is a finished game to pay out, keyed by GameID.
type Settlement struct {
	GameID  string
	Region  string
	EndedAt time.Time
	Seats   []Seat // by seat number; the deltas sum to zero
	Record  []byte // the encoded game record (protocol's GameRecord)
}

// Settled is what a settlement left: each seat's balance after the game.
type Settled struct {
	Coins []int64 // by seat
	// Replayed: the game had been settled already (a retry); nothing was
	// paid now and Coins are the balances that game left.
	Replayed bool
}

// Profile is a player's balance and stats in one region.
type Profile struct {
	Region, Account string
	Coins           int64
	Score           int64
	Games, Wins     int64
	LandlordGames   int64
	LandlordWins    int64
	FarmerGames     int64
	FarmerWins      int64
	UpdatedAt       time.Time
}

// ScoreCount is how many players of a region have one score.
type ScoreCount struct {
	Score   int64
	Players int64
}

// Game is a settled game as stored.
type Game struct {
	GameID  string
	Region  string
	EndedAt time.Time
	Seats   []Seat // by seat
	Coins   []int64
	Record  []byte
}

// Regions hold each region's balances, stats, ledger and game records.
type Regions interface {
	// Settle pays a finished game out in one transaction: the game record,
	// each seat's balance and stats, and the ledger. Settling a game ID
	// again changes nothing and returns the balances it left (Replayed); a
	// different result under the same ID is ErrConflict.
	Settle(ctx context.Context, s Settlement) (Settled, error)
	// Profile is account's balance and stats in region; ErrNotFound if the
	// account has not finished a game there.
	Profile(ctx context.Context, region, account string) (Profile, error)
	// Leaderboard lists a region's players by score (highest first, ties
	// by name), limit rows from offset.
	Leaderboard(ctx context.Context, region string, offset, limit int) ([]Profile, error)
	// ScoreCounts is the region's score distribution, highest score first:
	// a player's rank is 1 + the players above its score.
	ScoreCounts(ctx context.Context, region string) ([]ScoreCount, error)
	// Game returns a settled game; ErrNotFound if there is none.
	Game(ctx context.Context, gameID string) (Game, error)
	// Check proves the region's books: every game zero-sum with its seats,
	// every balance equal to the starting coins plus its ledger.
	Check(ctx context.Context, region string) (CheckReport, error)
	// RegionNames lists the regions that have players in this database
	// (for administrators: `gamehall check-settlements`).
	RegionNames(ctx context.Context) ([]string, error)
}

// CheckReport is the outcome of Regions.Check. OK() when both lists are empty.
type CheckReport struct {
	Region  string
	Games   int64 // games checked
	Players int64 // balances checked
	// NotZeroSum lists games (up to 20) whose deltas do not sum to zero or
	// that have fewer than two seats; NotZeroSumCount counts all of them.
	NotZeroSum      []string
	NotZeroSumCount int64
	// Unbalanced lists accounts (up to 20) whose balance, score or game
	// count differs from their ledger: a game paid twice or half-paid.
	Unbalanced      []string
	UnbalancedCount int64
}

// OK reports whether the books hold.
func (r CheckReport) OK() bool { return r.NotZeroSumCount == 0 && r.UnbalancedCount == 0 }

func (r CheckReport) String() string {
	if r.OK() {
		return fmt.Sprintf("region %s: %d games zero-sum, %d balances match their ledger", r.Region, r.Games, r.Players)
	}
	return fmt.Sprintf("region %s: %d of %d games not zero-sum %v; %d of %d balances differ from their ledger %v",
		r.Region, r.NotZeroSumCount, r.Games, r.NotZeroSum, r.UnbalancedCount, r.Players, r.Unbalanced)
}

// maxListed bounds the ids a CheckReport lists.
const maxListed = 20

// Validate checks a settlement before it reaches a database.
func (s Settlement) Validate() error {
	if s.GameID == "" || len(s.GameID) > 128 {
		return fmt.Errorf("%w: game id %q", ErrInvalid, s.GameID)
	}
	if s.Region == "" {
		return fmt.Errorf("%w: game %s has no region", ErrInvalid, s.GameID)
	}
	if len(s.Seats) < 2 {
		return fmt.Errorf("%w: game %s has %d seats", ErrInvalid, s.GameID, len(s.Seats))
	}
	var sum int64
	seen := map[string]bool{}
	for i, st := range s.Seats {
		if st.Account == "" || seen[st.Account] {
			return fmt.Errorf("%w: game %s seat %d: account %q empty or seated twice", ErrInvalid, s.GameID, i, st.Account)
		}
		if st.Role < RoleNone || st.Role > RoleFarmer {
			return fmt.Errorf("%w: game %s seat %d: role %d", ErrInvalid, s.GameID, i, st.Role)
		}
		seen[st.Account] = true
		sum += st.Delta
	}
	if sum != 0 {
		return fmt.Errorf("%w: game %s is not zero-sum (deltas sum to %d)", ErrInvalid, s.GameID, sum)
	}
	if s.EndedAt.IsZero() {
		return fmt.Errorf("%w: game %s has no end time", ErrInvalid, s.GameID)
	}
	return nil
}

// sameResult reports whether a stored game's seats are the settlement's.
func sameResult(s Settlement, stored []Seat) bool {
	if len(stored) != len(s.Seats) {
		return false
	}
	for i := range stored {
		if stored[i] != s.Seats[i] {
			return false
		}
	}
	return true
}

// win counts a seat's game as won.
func (st Seat) win() bool { return st.Delta > 0 }
