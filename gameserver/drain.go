package gameserver

import (
	"time"
)

// A shard drains for one of two reasons. The operator asks (its draining
// label on the GameServer, or local mode's policy): reversible, an un-drain
// reopens the shard. Or the shard is going away (SIGTERM, local mode's
// shutdown, POST /v1/drain): one-way. Either way the shard refuses new room
// entries, lets games finish, and Run returns once no player is in a room
// and none is entering, or at the deadline, whichever comes first.

// DrainRequest is the operator's wish for this shard.
type DrainRequest struct {
	Draining bool
	// Deadline, unless zero, is when a draining shard gives up on its last
	// players and closes (the Region's drainTimeout after the drain began).
	Deadline time.Time
}

// drainState is guarded by Server.drainMu.
type drainState struct {
	asked       DrainRequest // the operator's request
	terminating bool         // Drain was called
	termBy      time.Time    // Drain's deadline (Config.DrainTimeout), zero: none
}

func (d drainState) draining() bool { return d.asked.Draining || d.terminating }

// deadline is the earliest deadline in force, zero if none.
func (d drainState) deadline() time.Time {
	var dl time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (dl.IsZero() || t.Before(dl)) {
			dl = t
		}
	}
	if d.asked.Draining {
		consider(d.asked.Deadline)
	}
	if d.terminating {
		consider(d.termBy)
	}
	return dl
}

// SetDrain applies the operator's drain request at once: draining refuses
// new entries; not draining takes players again (unless Drain was called).
// On Agones the shard applies its GameServer's requests itself, confirming
// them through the SDK (see lifecycle).
func (s *Server) SetDrain(req DrainRequest) {
	s.updateDrain(func(d *drainState) { d.asked = req })
}

// Drain stops new room entries for good: the shard is going away. Run
// returns once the shard is empty, or Config.DrainTimeout after this call if
// that is set. Running games go on.
func (s *Server) Drain() {
	s.updateDrain(func(d *drainState) {
		if d.terminating {
			return
		}
		d.terminating = true
		if s.cfg.DrainTimeout > 0 {
			d.termBy = time.Now().Add(s.cfg.DrainTimeout)
		}
	})
}

func (s *Server) updateDrain(f func(*drainState)) {
	s.drainMu.Lock()
	before := s.drain
	f(&s.drain)
	after := s.drain
	s.draining.Store(after.draining())
	s.drainMu.Unlock()
	if before.draining() != after.draining() {
		s.occ.setDraining(after.draining())
		if after.draining() {
			s.log.Info("draining: new room entries are refused", "deadline", after.deadline(), "terminating", after.terminating)
		} else {
			s.log.Info("un-drained: room entries are taken again")
		}
	}
	if before != after {
		s.nudge()
		select {
		case s.drainWake <- struct{}{}:
		default:
		}
	}
}

func (s *Server) drainSnapshot() drainState {
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	return s.drain
}

// Draining reports whether the shard refuses new room entries.
func (s *Server) Draining() bool { return s.draining.Load() }

// drainedAndEmpty: draining, nobody in a room and nobody entering one. An
// entry counts itself in entering before it checks draining, so once this
// holds no entry can still succeed.
func (s *Server) drainedAndEmpty() bool {
	return s.draining.Load() && s.entering.Load() == 0 && s.inRooms.Load() == 0
}

// admit registers an entry in progress; it reports false (and registers
// nothing) while the shard drains. The caller calls the returned func when
// the entry succeeded or failed.
func (s *Server) admit() (done func(), ok bool) {
	s.entering.Add(1)
	if s.draining.Load() {
		s.entering.Add(-1)
		return nil, false
	}
	return func() { s.entering.Add(-1) }, true
}

// waitDrained blocks until the shard is drained and empty (true), or its
// drain deadline passed (false, players are left), or stop is closed.
func (s *Server) waitDrained(stop <-chan struct{}) (empty, stopped bool) {
	check := time.NewTicker(250 * time.Millisecond)
	defer check.Stop()
	for {
		if s.drainedAndEmpty() {
			return true, false
		}
		if dl := s.drainSnapshot().deadline(); !dl.IsZero() && !time.Now().Before(dl) {
			return false, false
		}
		select {
		case <-stop:
			return false, true
		case <-check.C:
		case <-s.drainWake:
		}
	}
}
