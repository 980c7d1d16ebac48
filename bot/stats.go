package bot

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// subBits sub-buckets per power of two: values are kept within 1/32 (3 %).
const subBits = 5

// Histogram records durations at microsecond resolution in log-linear
// buckets, lock-free, so 20,000 players can record into one without
// contention beyond the atomic adds.
type Histogram struct {
	counts [64 << subBits]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64 // microseconds
}

func bucketOf(us uint64) int {
	if us < 1<<subBits {
		return int(us)
	}
	e := bits.Len64(us) - subBits - 1
	return (e+1)<<subBits + int((us>>e)&(1<<subBits-1))
}

// bucketMid is the middle of bucket i, in microseconds.
func bucketMid(i int) float64 {
	if i < 1<<subBits {
		return float64(i)
	}
	e := i>>subBits - 1
	lo := uint64(1<<subBits+i&(1<<subBits-1)) << e
	return float64(lo) + float64(uint64(1)<<e)/2
}

// Record adds one observation.
func (h *Histogram) Record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	h.counts[bucketOf(uint64(us))].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			break
		}
	}
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest observation.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) * time.Microsecond }

// Quantile returns the q-quantile (0 < q ≤ 1), or 0 without observations.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			mid := time.Duration(bucketMid(i) * float64(time.Microsecond))
			return min(mid, h.Max())
		}
	}
	return h.Max()
}

// Stats are the counters of a bot run, shared by all players.
type Stats struct {
	start time.Time

	Online atomic.Int64 // connected to a shard
	Seated atomic.Int64 // at a table

	Logins        atomic.Int64
	LoginFailures atomic.Int64
	Entries       atomic.Int64 // rooms entered
	RoomFull      atomic.Int64 // ROOM_FULL answers
	Draining      atomic.Int64 // DRAINING answers (the shard left the directory)
	EntryFailures atomic.Int64 // every refused or failed entry attempt, ROOM_FULL included
	NoRoom        atomic.Int64 // directories with no room to choose
	NoSeat        atomic.Int64 // rooms entered with every table taken (left for another)
	InOtherRoom   atomic.Int64 // IN_OTHER_ROOM: an older connection's seat was still held
	Resumed       atomic.Int64 // connections that resumed an older seat (then left it)
	Games         atomic.Int64 // games finished (counted once per table)
	Escapes       atomic.Int64 // of which ended by a player leaving
	ZeroSum       atomic.Int64 // games whose scores were checked to sum to zero
	NonZeroSum    atomic.Int64
	Moves         atomic.Int64
	AutoMoves     atomic.Int64 // moves the server made for a slow bot
	LateMoves     atomic.Int64 // moves refused because the server had already auto-played
	Chats         atomic.Int64
	Visits        atomic.Int64 // room visits completed (left after their games)
	ProtocolErrs  atomic.Int64
	Dropped       atomic.Int64 // connections lost unexpectedly (no Kicked)
	NetFailures   atomic.Int64 // hall requests that timed out or lost their connection

	// Per player and game (each player checks its own seat):
	FairVerified  atomic.Int64 // deals checked against the revealed seed
	FairFailures  atomic.Int64 // deals that did not match: must stay 0
	FairUnwatched atomic.Int64 // games joined after the deal (nothing to check)
	SettledGames  atomic.Int64 // GAME_OVER with the new balance
	PendingGames  atomic.Int64 // GAME_OVER before the store answered
	LateSettled   atomic.Int64 // Settled pushes that followed a pending GAME_OVER
	UnratedGames  atomic.Int64 // the region keeps no balances
	// After the run, a sample of players' last balances against GET /v1/me:
	BalanceConfirmed atomic.Int64
	BalanceUnchecked atomic.Int64 // the hall did not answer

	// Faults: what players in a room went through when their connection ended.
	Cut            atomic.Int64 // kicked because the shard went away (KICK_SHUTDOWN, KICK_DRAIN_TIMEOUT)
	Kicked         atomic.Int64 // kicked for another reason (a newer login, a logout, …)
	DropsOnPurpose atomic.Int64 // connections the bot dropped itself mid-game (Config.DropEvery)
	Resumes        atomic.Int64 // drops after which the same seat was resumed
	ResumeFailures atomic.Int64 // drops after which the seat could not be resumed
	BackToHall     atomic.Int64 // players who picked a room from the hall again after their shard went
	TableWaits     atomic.Int64 // players who left a table where no game started within Config.TableWait

	Login, Directory, Enter, MoveDelivery, Ping, Resume Histogram

	mu       sync.Mutex
	errSeen  map[string]int64
	errOrder []string
	balances map[playerKey]int64 // the last balance each player was told
}

type playerKey struct{ region, account string }

// NewStats starts the clock of a run.
func NewStats() *Stats {
	return &Stats{start: time.Now(), errSeen: map[string]int64{}, balances: map[playerKey]int64{}}
}

// Balance keeps a player's balance in a region, as a GAME_OVER or Settled told it.
func (s *Stats) Balance(region, account string, coins int64) {
	s.mu.Lock()
	s.balances[playerKey{region, account}] = coins
	s.mu.Unlock()
}

// ForgetBalance drops a player's balance in a region: a game it did not
// see end may have changed it (confirmBalances then does not ask for it).
func (s *Stats) ForgetBalance(region, account string) {
	s.mu.Lock()
	delete(s.balances, playerKey{region, account})
	s.mu.Unlock()
}

// Balances returns the last balance of every player that has one, by region and account.
func (s *Stats) Balances() map[string]map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]int64{}
	for k, v := range s.balances {
		if out[k.region] == nil {
			out[k.region] = map[string]int64{}
		}
		out[k.region][k.account] = v
	}
	return out
}

// balanceSummary is the summary's balances line.
func (s *Stats) balanceSummary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.balances) == 0 {
		return "none reported (the regions keep no balances, or no game finished)"
	}
	var total, lo, hi int64
	regions := map[string]bool{}
	first := true
	for k, v := range s.balances {
		regions[k.region] = true
		total += v
		if first || v < lo {
			lo = v
		}
		if first || v > hi {
			hi = v
		}
		first = false
	}
	n := int64(len(s.balances))
	return fmt.Sprintf("%d players in %d regions: total %d coins, mean %.1f, min %d, max %d", n, len(regions), total, float64(total)/float64(n), lo, hi)
}

// listBalances: a run with at most this many balances prints each (a
// person playing a few bots sees what they hold).
const listBalances = 6

// balanceLines lists each player's balance in a small run, by region and account.
func (s *Stats) balanceLines() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.balances) > listBalances {
		return ""
	}
	keys := make([]playerKey, 0, len(s.balances))
	for k := range s.balances {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b playerKey) int {
		return cmp.Or(cmp.Compare(a.region, b.region), cmp.Compare(a.account, b.account))
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "    %s in %s: %d coins\n", k.account, k.region, s.balances[k])
	}
	return b.String()
}

// ProtocolError counts a protocol error and keeps its kind for the summary.
func (s *Stats) ProtocolError(kind string) {
	s.ProtocolErrs.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.errSeen[kind]; !ok {
		if len(s.errOrder) >= 20 {
			kind = "other"
			if _, ok := s.errSeen[kind]; !ok {
				s.errOrder = append(s.errOrder, kind)
			}
		} else {
			s.errOrder = append(s.errOrder, kind)
		}
	}
	s.errSeen[kind]++
}

// ProtocolErrors lists the errors seen, "kind: count", first seen first.
func (s *Stats) ProtocolErrors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.errOrder))
	for _, k := range s.errOrder {
		out = append(out, fmt.Sprintf("%s: %d", k, s.errSeen[k]))
	}
	return out
}

// Elapsed is the time since the run started.
func (s *Stats) Elapsed() time.Duration { return time.Since(s.start) }

// RoomFullRate is ROOM_FULL answers per entry attempt.
func (s *Stats) RoomFullRate() float64 {
	attempts := s.Entries.Load() + s.EntryFailures.Load()
	if attempts == 0 {
		return 0
	}
	return float64(s.RoomFull.Load()) / float64(attempts)
}

// GamesPerSecond over the whole run.
func (s *Stats) GamesPerSecond() float64 {
	sec := s.Elapsed().Seconds()
	if sec <= 0 {
		return 0
	}
	return float64(s.Games.Load()) / sec
}

// Progress is the one-line live view.
func (s *Stats) Progress() string {
	return fmt.Sprintf("%s  online %d  seated %d  games %d (%.1f/s)  entries %d  entry failures %d (room full %d)  errors %d",
		s.Elapsed().Round(time.Second), s.Online.Load(), s.Seated.Load(), s.Games.Load(), s.GamesPerSecond(),
		s.Entries.Load(), s.EntryFailures.Load(), s.RoomFull.Load(), s.ProtocolErrs.Load())
}

// Summary is the report printed at the end of a run.
func (s *Stats) Summary() string {
	var b strings.Builder
	el := s.Elapsed()
	fmt.Fprintf(&b, "bot summary after %s\n", el.Round(time.Millisecond))
	fmt.Fprintf(&b, "  logins           %d (%d failed)\n", s.Logins.Load(), s.LoginFailures.Load())
	fmt.Fprintf(&b, "  room entries     %d, entry failures %d: ROOM_FULL %d (%.2f%% of attempts), DRAINING %d; directories with no room %d; rooms with no free seat %d\n",
		s.Entries.Load(), s.EntryFailures.Load(), s.RoomFull.Load(), 100*s.RoomFullRate(), s.Draining.Load(), s.NoRoom.Load(), s.NoSeat.Load())
	fmt.Fprintf(&b, "  games finished   %d (%.2f/s), %d by escape; scores zero-sum in %d, not in %d\n",
		s.Games.Load(), s.GamesPerSecond(), s.Escapes.Load(), s.ZeroSum.Load(), s.NonZeroSum.Load())
	fmt.Fprintf(&b, "  fair deals       %d verified against the revealed seed, %d failures, %d not checkable (joined after the deal)\n",
		s.FairVerified.Load(), s.FairFailures.Load(), s.FairUnwatched.Load())
	fmt.Fprintf(&b, "  settlement       %d GAME_OVERs settled, %d pending (then %d Settled), %d unrated\n",
		s.SettledGames.Load(), s.PendingGames.Load(), s.LateSettled.Load(), s.UnratedGames.Load())
	fmt.Fprintf(&b, "  balances         %s; %d of them confirmed by GET /v1/me after the run (%d unanswered)\n",
		s.balanceSummary(), s.BalanceConfirmed.Load(), s.BalanceUnchecked.Load())
	b.WriteString(s.balanceLines())
	fmt.Fprintf(&b, "  moves            %d (%d auto-played by the server, %d too late), chats %d, visits completed %d\n",
		s.Moves.Load(), s.AutoMoves.Load(), s.LateMoves.Load(), s.Chats.Load(), s.Visits.Load())
	b.WriteString("  latency          count      p50      p90      p99    p99.9      max\n")
	for _, h := range []struct {
		name string
		h    *Histogram
	}{{"login", &s.Login}, {"directory", &s.Directory}, {"enter room", &s.Enter}, {"move delivery", &s.MoveDelivery}, {"ping", &s.Ping}} {
		fmt.Fprintf(&b, "    %-14s %7d %8s %8s %8s %8s %8s\n", h.name, h.h.Count(),
			fmtDur(h.h.Quantile(.5)), fmtDur(h.h.Quantile(.9)), fmtDur(h.h.Quantile(.99)), fmtDur(h.h.Quantile(.999)), fmtDur(h.h.Max()))
	}
	fmt.Fprintf(&b, "  held seats       IN_OTHER_ROOM %d, resumed and left %d (a previous visit's leave timed out); tables left with no game %d\n", s.InOtherRoom.Load(), s.Resumed.Load(), s.TableWaits.Load())
	fmt.Fprintf(&b, "  connections lost %d, requests failed by timeout or network %d\n", s.Dropped.Load(), s.NetFailures.Load())
	fmt.Fprintf(&b, "  faults           cut by a shard going away %d, kicked %d, dropped on purpose %d, seats resumed %d (p50 %s, max %s), resume failures %d, back to the hall %d\n",
		s.Cut.Load(), s.Kicked.Load(), s.DropsOnPurpose.Load(), s.Resumes.Load(), fmtDur(s.Resume.Quantile(.5)), fmtDur(s.Resume.Max()),
		s.ResumeFailures.Load(), s.BackToHall.Load())
	fmt.Fprintf(&b, "  protocol errors  %d", s.ProtocolErrs.Load())
	for _, e := range s.ProtocolErrors() {
		fmt.Fprintf(&b, "\n    %s", e)
	}
	b.WriteString("\n")
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
