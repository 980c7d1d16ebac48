package profiles

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/gamehall/gamehall/store"
)

// board caches one region's leaderboard: the top rows and the score
// distribution that ranks anyone. A request then costs a slice of memory and,
// for the caller's own rank, one primary-key read: the hall's request rate
// never becomes the database's. Stale entries are served while one refresh
// runs in the background, so a slow database does not slow every request.
type board struct {
	region string

	mu      sync.Mutex
	top     []store.Profile
	counts  []store.ScoreCount // highest score first
	above   []int64            // above[i]: players with a score above counts[i].Score
	players int64
	at      time.Time // when top and counts were read
	loading chan struct{}
	err     error // of the last refresh
}

// snapshot is what one request reads of a board.
type snapshot struct {
	top     []store.Profile
	counts  []store.ScoreCount
	above   []int64
	players int64
	at      time.Time
}

// rank is 1 + the players with a score above score (ties share a rank).
func (s snapshot) rank(score int64) int64 {
	// counts is sorted by score descending: find the first at or below score.
	i := sort.Search(len(s.counts), func(i int) bool { return s.counts[i].Score <= score })
	if i == len(s.counts) {
		return s.players + 1
	}
	return s.above[i] + 1
}

// get returns the board's data, refreshing it when older than ttl: in the
// background if there is data to serve meanwhile, else waiting for it.
func (b *board) get(ctx context.Context, st store.Regions, topSize int, ttl time.Duration) (snapshot, error) {
	b.mu.Lock()
	fresh := !b.at.IsZero() && time.Since(b.at) < ttl
	have := !b.at.IsZero()
	if !fresh && b.loading == nil {
		b.loading = make(chan struct{})
		go b.refresh(st, topSize)
	}
	loading := b.loading
	s := snapshot{top: b.top, counts: b.counts, above: b.above, players: b.players, at: b.at}
	b.mu.Unlock()
	if have {
		return s, nil
	}
	select {
	case <-loading:
	case <-ctx.Done():
		return snapshot{}, ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.at.IsZero() {
		return snapshot{}, b.err
	}
	return snapshot{top: b.top, counts: b.counts, above: b.above, players: b.players, at: b.at}, nil
}

// refreshTimeout bounds one refresh: the score distribution reads the whole
// region's index.
const refreshTimeout = 30 * time.Second

func (b *board) refresh(st store.Regions, topSize int) {
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	at := time.Now()
	top, err := st.Leaderboard(ctx, b.region, 0, topSize)
	var counts []store.ScoreCount
	if err == nil {
		counts, err = st.ScoreCounts(ctx, b.region)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.loading)
	b.loading = nil
	b.err = err
	if err != nil {
		return // keep serving the last good data
	}
	b.top, b.counts, b.at = top, counts, at
	b.above = make([]int64, len(counts))
	var n int64
	for i, c := range counts {
		b.above[i] = n
		n += c.Players
	}
	b.players = n
}
