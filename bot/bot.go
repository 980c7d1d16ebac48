// Package bot plays simulated players against a gamehall: each logs in,
// looks at a region's room directory, picks a room the way a person would,
// enters it (trying another on ROOM_FULL), takes a seat, plays Dou Dizhu with
// a legal and sensible strategy (strategy.go), chats now and then, leaves
// after a few games and comes back later. Stats collects what a run saw.
package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// Config of a bot run. Zero fields take the defaults noted.
type Config struct {
	HallURL string // login and hall base URL (http://127.0.0.1:8080)
	Players int
	// Duration after which players finish their game and leave; 0: until
	// Stop or the context ends.
	Duration time.Duration
	Region   string  // "": each player picks one of the hall's regions
	Ramp     float64 // players started per second (200)
	// Think is the mean time a player takes for a move (1s); each move takes
	// a uniform time in [Think/2, 3·Think/2].
	Think time.Duration
	// Games a player plays per visit: uniform in [MinGames, MaxGames] (2..5).
	MinGames, MaxGames int
	// Break is the mean pause between visits (15s), exponentially distributed.
	Break time.Duration
	// ChatChance is the probability of a table chat after a game (0.1).
	ChatChance float64
	// MaxOnline caps players connected at once (file descriptors); 0: no cap.
	MaxOnline int
	// LeaveGrace: after Duration or Stop, how long players may finish the
	// game they are in before leaving anyway (an escape). Default 60s.
	LeaveGrace time.Duration
	// DropEvery, when set, is the mean time (exponentially distributed)
	// after which a player in a running game drops its connection, as a
	// flaky network would, and resumes its seat on a new one.
	DropEvery time.Duration
	// ResumeWithin bounds how long a player whose connection was lost tries
	// to get its seat back from the same shard (10s; keep it under the
	// shard's reconnect grace).
	ResumeWithin time.Duration
	// HeldRetry: a player refused IN_OTHER_ROOM (presence still seats the
	// account elsewhere, e.g. on a shard that died) tries the room again with
	// the same ticket every second for this long, as a client that keeps its
	// ticket would; 0: the visit ends, and the next one logs in anew.
	HeldRetry time.Duration
	// TableWait: a player whose table started no game for this long leaves
	// the room and picks another from the hall, as a person would (30s):
	// nobody joins a table of a draining shard, which waits for its players.
	TableWait time.Duration
	// Events, when set, receives one JSON line (Event) per connection that
	// ended in a room, per resume and per return to the hall.
	Events io.Writer
	// Prefix of account names (bot-<random hex>).
	Prefix string
	Seed   uint64 // 0: random
	Log    logr.Logger
}

func (c *Config) defaults() error {
	if c.HallURL == "" {
		c.HallURL = "http://127.0.0.1:8080"
	}
	if c.Players <= 0 {
		return fmt.Errorf("players must be positive, got %d", c.Players)
	}
	if c.Ramp <= 0 {
		c.Ramp = 200
	}
	if c.Think <= 0 {
		c.Think = time.Second
	}
	if c.MinGames <= 0 {
		c.MinGames = 2
	}
	if c.MaxGames <= 0 {
		c.MaxGames = 5
	}
	if c.MaxGames < c.MinGames {
		return fmt.Errorf("max games %d is below min games %d", c.MaxGames, c.MinGames)
	}
	if c.Break <= 0 {
		c.Break = 15 * time.Second
	}
	if c.ChatChance < 0 || c.ChatChance > 1 {
		return fmt.Errorf("chat chance %v is outside 0..1", c.ChatChance)
	}
	if c.LeaveGrace <= 0 {
		c.LeaveGrace = 60 * time.Second
	}
	if c.TableWait <= 0 {
		c.TableWait = 30 * time.Second
	}
	if c.ResumeWithin <= 0 {
		c.ResumeWithin = 10 * time.Second
	}
	if c.DropEvery < 0 {
		return fmt.Errorf("drop-every %s is negative", c.DropEvery)
	}
	if c.HeldRetry < 0 {
		return fmt.Errorf("held-retry %s is negative", c.HeldRetry)
	}
	if c.Prefix == "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		c.Prefix = "bot-" + hex.EncodeToString(b[:])
	}
	if len(c.Prefix)+1+len(strconv.Itoa(c.Players)) > 32 {
		return fmt.Errorf("prefix %q is too long for 32-character account names", c.Prefix)
	}
	if c.Seed == 0 {
		c.Seed = mrand.Uint64()
	}
	return nil
}

// Runner is one bot run.
type Runner struct {
	cfg    Config
	stats  *Stats
	hall   *hallClient
	log    logr.Logger
	events *eventLog

	stop     chan struct{} // soft stop: finish the game, leave
	stopOnce sync.Once
	sem      chan struct{} // MaxOnline

	regionsMu sync.Mutex
	regions   []string
	seats     atomic.Int64 // seats per room (tables × 3), learnt on entering one
}

// New checks cfg and prepares a run.
func New(cfg Config) (*Runner, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, stats: NewStats(), hall: newHallClient(cfg.HallURL), log: cfg.Log, events: newEventLog(cfg.Events), stop: make(chan struct{})}
	if cfg.MaxOnline > 0 && cfg.MaxOnline < cfg.Players {
		r.sem = make(chan struct{}, cfg.MaxOnline)
	}
	return r, nil
}

// Stats are the run's live counters.
func (r *Runner) Stats() *Stats { return r.stats }

// Stop asks every player to finish its game and leave.
func (r *Runner) Stop() { r.stopOnce.Do(func() { close(r.stop) }) }

func (r *Runner) stopping() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// Run plays until Duration passes or Stop is called and every player left,
// or until ctx ends (players disconnect at once). It returns the stats and
// an error if there were protocol errors.
func (r *Runner) Run(ctx context.Context) (*Stats, error) {
	defer r.hall.close()
	if r.cfg.Duration > 0 {
		t := time.AfterFunc(r.cfg.Duration, r.Stop)
		defer t.Stop()
	}
	var wg sync.WaitGroup
	start := time.Now()
ramp:
	for i := 0; i < r.cfg.Players; i++ {
		at := start.Add(time.Duration(float64(i) / r.cfg.Ramp * float64(time.Second)))
		if d := time.Until(at); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				break ramp
			case <-r.stop:
				t.Stop()
				break ramp
			}
		}
		p := &player{r: r, account: r.cfg.Prefix + "-" + strconv.Itoa(i), rng: mrand.New(mrand.NewPCG(r.cfg.Seed, uint64(i)))}
		wg.Go(func() { p.run(ctx) })
	}
	wg.Wait()
	if ctx.Err() == nil {
		r.confirmBalances(ctx)
	}
	if n := r.stats.ProtocolErrs.Load(); n > 0 {
		return r.stats, fmt.Errorf("%d protocol errors", n)
	}
	return r.stats, nil
}

// confirmSample is how many players' balances confirmBalances asks the hall for.
const confirmSample = 20

// confirmBalances compares the balance the last GAME_OVER told a few
// players with what GET /v1/me answers after the run: the database must
// hold what the players were told.
func (r *Runner) confirmBalances(ctx context.Context) {
	st := r.stats
	n := 0
	for region, players := range st.Balances() {
		for account, coins := range players {
			if n >= confirmSample {
				return
			}
			n++
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			got, err := r.hall.balance(cctx, account, region)
			cancel()
			switch {
			case err != nil:
				st.BalanceUnchecked.Add(1)
				r.log.V(1).Info("balance check failed", "account", account, "err", err.Error())
			case got != coins:
				st.ProtocolError(fmt.Sprintf("balance of %s in %s: told %d, /v1/me says %d", account, region, coins, got))
			default:
				st.BalanceConfirmed.Add(1)
			}
		}
	}
}

// regionFor picks a region: the configured one, or one of the hall's.
func (r *Runner) regionFor(ctx context.Context, p *player, base, ticket string) (string, error) {
	if r.cfg.Region != "" {
		return r.cfg.Region, nil
	}
	r.regionsMu.Lock()
	names := r.regions
	r.regionsMu.Unlock()
	if len(names) == 0 {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		list, err := r.hall.regions(rctx, base, ticket)
		cancel()
		if err != nil {
			return "", err
		}
		for _, reg := range list {
			names = append(names, reg.Name)
		}
		if len(names) == 0 {
			return "", errors.New("the hall lists no regions")
		}
		r.regionsMu.Lock()
		r.regions = names
		r.regionsMu.Unlock()
	}
	return names[p.rng.IntN(len(names))], nil
}
