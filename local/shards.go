package local

// The shards of each Region: scaled by the operator's policy, started on
// loopback ports, published to the hall.

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/scaling"
)

// observeLocked is the scaling input of r. Shards being deleted are left out:
// they are gone as far as the policy is concerned.
func (l *Local) observeLocked(r *region, now time.Time) scaling.Input {
	in := scaling.Input{Policy: r.policy, Now: now, BelowSince: r.belowSince}
	for _, s := range r.shards {
		if s.stopping {
			continue
		}
		in.Shards = append(in.Shards, scaling.Shard{
			Index: s.index, Players: int64(s.srv.Stats().Players), Ready: true, Running: true,
			Draining: s.draining, DrainStarted: s.drainStarted,
		})
	}
	sort.Slice(in.Shards, func(i, j int) bool { return in.Shards[i].Index < in.Shards[j].Index })
	return in
}

// scaleLocked runs r's policy and acts on it until it asks for nothing more
// (bounded, so one tick stays short; the next tick goes on).
func (l *Local) scaleLocked(ctx context.Context, r *region, now time.Time) error {
	for step := 0; step < 16; step++ {
		d, err := scaling.Decide(l.observeLocked(r, now))
		if err != nil {
			return err
		}
		r.belowSince, r.last = d.BelowSince, d
		log := l.log.WithValues("region", r.spec.Name, "shard", d.Index)
		switch d.Action {
		case scaling.None:
			return nil
		case scaling.Create:
			if old, ok := r.shards[d.Index]; ok && old.stopping {
				return nil // its previous life is still stopping; next tick
			}
			if err := l.startShardLocked(ctx, r, d.Index); err != nil {
				return fmt.Errorf("starting shard %d: %w", d.Index, err)
			}
			log.Info("shard created", "reason", d.Reason)
		case scaling.Drain:
			s := r.shards[d.Index]
			s.draining, s.drainStarted = true, now
			req := gameserver.DrainRequest{Draining: true}
			if r.policy.DrainTimeout > 0 {
				req.Deadline = now.Add(r.policy.DrainTimeout)
			}
			// The shard refuses entries from now on and, once empty,
			// returns from Run (then it is gone from r.shards).
			s.srv.SetDrain(req)
			log.Info("shard draining", "reason", d.Reason)
		case scaling.Undrain:
			s := r.shards[d.Index]
			s.draining, s.drainStarted = false, time.Time{}
			s.srv.SetDrain(gameserver.DrainRequest{})
			log.Info("shard un-drained", "reason", d.Reason)
		case scaling.Delete:
			// Only a drain timeout gets here: a drained shard that emptied
			// has returned from Run and left r.shards by itself.
			s := r.shards[d.Index]
			s.stopping = true
			s.srv.Drain()
			if d.CutOff > 0 {
				log.Info("drain timeout: disconnecting the players left", "players", d.CutOff)
				s.cancel()
			}
			r.deleted++
			log.Info("shard deleted", "reason", d.Reason)
		}
		serving := 0
		for _, s := range r.shards {
			if !s.draining && !s.stopping {
				serving++
			}
		}
		r.peak = max(r.peak, serving)
	}
	return nil
}

func (l *Local) startShardLocked(ctx context.Context, r *region, index int32) error {
	spec := r.spec.Spec
	cfg := gameserver.Config{
		Shard:         r.spec.Name + "-" + strconv.Itoa(int(index)),
		Region:        r.spec.Name,
		Game:          spec.Game,
		FirstRoom:     int(index)*int(spec.RoomsPerShard) + 1,
		Rooms:         int(spec.RoomsPerShard),
		RoomCapacity:  int(spec.RoomCapacity),
		TablesPerRoom: int(spec.TablesPerRoom),
		Addr:          net.JoinHostPort(l.cfg.ShardHost, "0"),
		InternalAddr:  net.JoinHostPort(l.cfg.ShardHost, "0"),
	}
	if l.cfg.Shard != nil {
		l.cfg.Shard(&cfg)
	}
	deps := gameserver.Deps{Verifier: l.verify, Presence: l.store, Logger: l.log.WithName("shard")}
	if r.dsn != "" {
		deps.Store = l.dbs.Get(r.dsn)
	}
	srv, err := gameserver.New(cfg, deps)
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	// Shards outlive ctx: shutdown drains them first and cancels them itself.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &shard{index: index, name: cfg.Shard, srv: srv, cancel: cancel, done: make(chan struct{})}
	r.shards[index] = s
	r.created++
	l.wg.Go(func() {
		err := srv.Run(sctx)
		cancel()
		close(s.done)
		l.mu.Lock()
		defer l.mu.Unlock()
		if r.shards[index] == s {
			delete(r.shards, index)
		}
		switch {
		case s.draining && !s.stopping && !l.closing:
			r.deleted++
			l.log.Info("drained shard is empty and stopped", "shard", s.name)
		case !s.stopping && sctx.Err() == nil && !l.closing:
			l.log.Error(err, "shard stopped on its own; the policy will replace it", "shard", s.name)
		}
		l.publishLocked()
	})
	return nil
}

// publishLocked hands the hall the current topology.
func (l *Local) publishLocked() {
	if l.closing {
		return
	}
	var regions []hall.RegionInfo
	var shards []hall.ShardInfo
	for _, r := range l.regions {
		regions = append(regions, hall.RegionInfo{Name: r.spec.Name, Game: r.spec.Spec.Game, DisplayName: r.spec.Title(), Database: r.dsn})
		for _, s := range r.shards {
			if s.stopping {
				continue
			}
			port := s.srv.Addr().(*net.TCPAddr).Port
			cfg := s.srv.Config()
			shards = append(shards, hall.ShardInfo{
				Name: s.name, Region: r.spec.Name, Game: r.spec.Spec.Game,
				Address: l.cfg.ShardHost, Port: port, InternalURL: "http://" + s.srv.InternalAddr().String(),
				FirstRoom: cfg.FirstRoom, Rooms: cfg.Rooms, RoomCapacity: cfg.RoomCapacity,
				Ready: true, Draining: s.draining,
			})
		}
	}
	sort.Slice(shards, func(i, j int) bool { return shards[i].Name < shards[j].Name })
	l.source.Set(regions, shards)
}
