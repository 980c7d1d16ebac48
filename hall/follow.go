package hall

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/gamehall/gamehall/ticket"
)

// follower follows one ready shard's occupancy stream and mirrors its rooms
// into the directory; when the stream is lost the rooms are dropped at once
// and the follower reconnects with backoff.
type follower struct {
	h      *Server
	info   ShardInfo
	cancel context.CancelFunc
	done   chan struct{}
}

// Backoff bounds for reconnecting to a shard.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 5 * time.Second
)

func (f *follower) run(ctx context.Context) {
	defer close(f.done)
	// Only while still the owner: a replaced follower must not wipe the
	// rooms its successor for the same shard has published.
	defer f.h.dir.setShard(f, f.info.Region, f.info.Name, nil, time.Now())
	wait := backoffMin
	for ctx.Err() == nil {
		start := time.Now()
		err := f.follow(ctx)
		// The shard is lost (or its stream is): its rooms leave the directory now.
		f.h.dir.setShard(f, f.info.Region, f.info.Name, nil, time.Now())
		if ctx.Err() != nil {
			return
		}
		f.h.m.streamErrors.Inc()
		f.h.log.V(1).Info("occupancy stream lost", "shard", f.info.Name, "url", f.info.InternalURL, "err", err.Error())
		if time.Since(start) > 10*time.Second {
			wait = backoffMin // it was healthy for a while: retry fast
		}
		jitter := time.Duration(rand.Int64N(int64(wait)/2 + 1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait/2 + jitter):
		}
		wait = min(wait*2, backoffMax)
	}
}

// follow runs one connection until it fails or ctx ends.
func (f *follower) follow(ctx context.Context) error {
	tok, err := f.h.deps.Keys.Sign(ticket.Service("hall/"+f.h.cfg.Name, ticket.AudShardRead), f.h.cfg.ServiceTicketTTL)
	if err != nil {
		return err
	}
	// The stream lives as long as the context given to Dial, so the dial
	// timeout must not cancel it once connected.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := time.AfterFunc(10*time.Second, cancel)
	feed, err := f.h.deps.Dial(sctx, f.info.InternalURL, tok)
	if !timer.Stop() && err == nil {
		feed.Close()
		return errors.New("occupancy stream: dial timed out")
	}
	if err != nil {
		return err
	}
	f.h.m.streams.Inc()
	defer f.h.m.streams.Dec()

	// Recv does not watch ctx, and a silently dead peer never errors: a
	// watchdog closes the feed when ctx ends or no frame (heartbeats
	// included) came for FeedIdleTimeout.
	frames := make(chan struct{}, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		idle := time.NewTimer(f.h.cfg.FeedIdleTimeout)
		defer idle.Stop()
		for {
			select {
			case <-stop:
				feed.Close()
				return
			case <-ctx.Done():
				feed.Close()
				return
			case <-idle.C:
				f.h.log.Info("occupancy stream idle; closing", "shard", f.info.Name, "timeout", f.h.cfg.FeedIdleTimeout)
				feed.Close()
				return
			case <-frames:
				if !idle.Stop() {
					select {
					case <-idle.C:
					default:
					}
				}
				idle.Reset(f.h.cfg.FeedIdleTimeout)
			}
		}
	}()

	counts := map[int]RoomCount{}
	draining := false
	got := false
	for {
		u, err := feed.Recv()
		if err != nil {
			return err
		}
		select {
		case frames <- struct{}{}:
		default:
		}
		switch {
		case u.Snapshot:
			got = true
			clear(counts)
		case !got:
			return errors.New("occupancy stream began with a delta, not a snapshot")
		}
		for _, rc := range u.Rooms {
			counts[rc.Room] = rc
		}
		if !u.Snapshot && len(u.Rooms) == 0 && u.Draining == draining {
			continue // heartbeat
		}
		draining = u.Draining
		f.h.dir.setShard(f, f.info.Region, f.info.Name, f.rooms(counts, draining), time.Now())
	}
}

// rooms lists the rooms to offer: none while the shard drains; only the
// rooms that belong to the shard per its RoomShard spec.
func (f *follower) rooms(counts map[int]RoomCount, draining bool) []Room {
	if draining {
		return nil
	}
	out := make([]Room, 0, len(counts))
	for _, rc := range counts {
		if f.info.Rooms > 0 && (rc.Room < f.info.FirstRoom || rc.Room >= f.info.FirstRoom+f.info.Rooms) {
			continue
		}
		out = append(out, Room{
			Room: rc.Room, Shard: f.info.Name, Address: f.info.Address, Port: f.info.Port,
			Players: rc.Players, Capacity: rc.Capacity,
		})
	}
	return out
}
