package gameserver

import (
	"context"
	"time"

	"github.com/gamehall/gamehall/gameserver/roomreport"
)

// lifecycle reports to Agones when an SDK is configured: Ready once
// listening (retried until the sidecar answers), Health every few seconds,
// Allocate when the first player enters, the players counter and the room
// report (annotation roomreport.Annotation) at most once per
// ReportInterval (and at once when players reach 0), a label while
// draining. Without an SDK it returns at once.
func (s *Server) lifecycle(ctx context.Context) {
	sdk := s.deps.SDK
	if sdk == nil {
		return
	}
	log := s.log.WithName("agones")
	retry := func(what string, f func(context.Context) error) bool {
		for delay := 250 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := f(cctx)
			cancel()
			if err == nil {
				return true
			}
			log.V(1).Info("sidecar call failed; retrying", "call", what, "err", err.Error())
			select {
			case <-ctx.Done():
				return false
			case <-time.After(delay):
			}
		}
	}
	if !retry("ready", sdk.Ready) {
		return
	}
	log.Info("ready reported")
	go func() {
		err := sdk.WatchDraining(ctx, func(d bool) {
			if d {
				s.Drain()
			}
		})
		if err != nil && ctx.Err() == nil {
			log.Error(err, "watching the draining label failed")
		}
	}()

	health := time.NewTicker(2 * time.Second)
	defer health.Stop()
	report := time.NewTicker(s.cfg.ReportInterval)
	defer report.Stop()
	var (
		allocated     bool
		lastPlayers   int64 = -1
		lastRooms     string
		dirty         = true // the first report lists the (empty) rooms
		labelDraining bool
	)
	capacity := int64(s.cfg.Rooms * s.cfg.RoomCapacity)
	// One report is at most two SDK writes, as many as when rooms were a
	// second counter: the players counter (Agones' own) and the rooms.
	send := func() {
		players, rooms := s.inRooms.Load(), s.roomReport().Encode()
		if players != lastPlayers {
			if err := sdk.SetCounter(ctx, "players", players, capacity); err != nil {
				log.V(1).Info("counter update failed", "err", err.Error())
				return
			}
			lastPlayers = players
		}
		if rooms != lastRooms {
			if err := sdk.SetAnnotation(ctx, roomreport.Key, rooms); err != nil {
				log.V(1).Info("room report failed", "err", err.Error())
				return
			}
			lastRooms = rooms
		}
		dirty = false
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-health.C:
			hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := sdk.Health(hctx); err != nil {
				log.V(1).Info("health ping failed", "err", err.Error())
			}
			cancel()
		case <-report.C:
			if dirty {
				send()
			}
		case <-s.changed:
			players := s.inRooms.Load()
			if players > 0 && !allocated {
				// An occupied shard must never look idle to Agones.
				allocated = retry("allocate", sdk.Allocate)
			}
			dirty = true
			if players == 0 && lastPlayers != 0 {
				send()
			}
			if s.draining.Load() && !labelDraining {
				if err := sdk.SetLabel(ctx, "draining", "true"); err == nil {
					labelDraining = true
				}
			}
		}
	}
}
