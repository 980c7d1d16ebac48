package gameserver

import (
	"context"
	"time"

	"github.com/gamehall/gamehall/gameserver/roomreport"
)

// lifecycle reports to Agones when an SDK is configured: Ready once
// listening (retried until the sidecar answers), Health every few seconds,
// Allocate when the first player enters, the players counter and the room
// report (annotation roomreport.Annotation) at most once per ReportInterval
// — and at once when the shard becomes empty or stops being empty, so an
// occupied shard never looks empty for a report interval — and the drain
// conversation with the operator (drain.go, controllers/roomshard_drain.go).
// Without an SDK it returns at once.
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
	requests := make(chan DrainRequest, 1) // the latest request only
	go func() {
		err := sdk.WatchDrain(ctx, func(req DrainRequest) {
			select {
			case <-requests:
			default:
			}
			requests <- req
		})
		if err != nil && ctx.Err() == nil {
			log.Error(err, "watching the drain request failed")
		}
	}()

	health := time.NewTicker(2 * time.Second)
	defer health.Stop()
	report := time.NewTicker(s.cfg.ReportInterval)
	defer report.Stop()
	var (
		allocated   bool
		lastPlayers int64 = -1 // unknown: the GameServer's spec starts it at 0
		lastRooms   string
		dirty       = true // the first report lists the (empty) rooms
		ack         drainAck
		retryAck    <-chan time.Time
	)
	capacity := int64(s.cfg.Rooms * s.cfg.RoomCapacity)
	call := func(what string, f func(context.Context) error) bool {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := f(cctx); err != nil {
			log.V(1).Info("sidecar call failed", "call", what, "err", err.Error())
			return false
		}
		return true
	}
	// send reports what changed — at most two SDK writes: the players
	// counter (Agones' own) and the room report; true when both are current.
	send := func() bool {
		players, rooms := s.inRooms.Load(), s.roomReport().Encode()
		if players != lastPlayers {
			if !call("players counter", func(c context.Context) error { return sdk.SetCounter(c, "players", players, capacity) }) {
				return false
			}
			lastPlayers = players
		}
		if rooms != lastRooms {
			if !call("room report", func(c context.Context) error { return sdk.SetAnnotation(c, roomreport.Key, rooms) }) {
				return false
			}
			lastRooms = rooms
		}
		dirty = false
		return true
	}
	label := func(v string) bool {
		return call("drain label", func(c context.Context) error { return sdk.SetLabel(c, "draining", v) })
	}
	advance := func() {
		if ack.step(s, send, label) {
			retryAck = nil
		} else if retryAck == nil {
			retryAck = time.After(250 * time.Millisecond)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-health.C:
			call("health", sdk.Health)
		case <-report.C:
			if dirty {
				send()
			}
		case req := <-requests:
			ack.asked = req.Draining
			if req.Draining {
				s.SetDrain(req) // refuse entries first; confirm after
			}
			advance()
		case <-retryAck:
			retryAck = nil
			advance()
		case <-s.changed:
			players := s.inRooms.Load()
			if players > 0 && !allocated {
				// An occupied shard must never look idle to Agones.
				allocated = retry("allocate", sdk.Allocate)
			}
			dirty = true
			if (players == 0) != (lastPlayers <= 0) {
				send() // empty ↔ occupied: at once
			}
			advance()
		}
	}
}

// drainAck is the shard's side of the drain conversation on its GameServer.
type drainAck struct {
	asked     bool // the operator's latest request
	confirmed bool // what the shard's label says now
}

// step moves the confirmation towards the shard's state and reports whether
// it is there. A drain is confirmed only when no entry is in progress and
// the exact player count is reported (it can only fall after that); an
// un-drain withdraws the confirmation before the shard takes players again.
func (a *drainAck) step(s *Server, send func() bool, label func(string) bool) bool {
	if !a.asked && s.drainSnapshot().asked.Draining {
		if a.confirmed {
			if !label("false") {
				return false
			}
			a.confirmed = false
		}
		s.SetDrain(DrainRequest{}) // reopen (unless the shard is going away)
	}
	want := s.Draining()
	switch {
	case want == a.confirmed:
		return true
	case want:
		if s.entering.Load() > 0 || !send() || !label("true") {
			return false
		}
	default:
		if !label("false") {
			return false
		}
	}
	a.confirmed = want
	return true
}
