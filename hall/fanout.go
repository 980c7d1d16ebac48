package hall

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Fan-out: after each publish one pass over a region's watchers sends each
// one, in one write, everything since its version: a delta of its page,
// encoded once per (page, version) and shared by every watcher at that
// version. A watcher costs no goroutine and no buffer while it keeps up:
// writes never wait. One whose socket does not take the whole message gets
// a goroutine that finishes it (bounded by WriteTimeout) and catches up;
// the pass skips it meanwhile, so a slow client never delays the others.

// totalsEvery: a watcher whose page did not change gets the region's new
// totals at most this often.
const totalsEvery = time.Second

var pingFrame = appendFrame(nil, opPing, nil)

// watcher is one client of the watch stream. Whoever holds busy writes to
// its socket and owns in; version, sent and pinged are atomic so the pass
// can skip watchers with nothing to send without taking busy.
type watcher struct {
	conn    *rawConn
	set     *watchSet
	page    int
	busy    atomic.Bool
	closed  atomic.Bool
	version atomic.Uint64 // the version the client has
	sent    atomic.Int64  // last message written (unix ns)
	pinged  atomic.Int64  // last ping (unix ns)
	in      []byte        // an incomplete frame the client sent
	idx     int           // position in set.list (set.mu)
	account string        // its ticket's: counted in Server.accounts until dropped
}

// watchSet holds a region's watchers.
type watchSet struct {
	h      *Server
	reg    *region
	mu     sync.Mutex
	list   []*watcher
	closed bool // closeAll ran: no more watchers

	scratch []*watcher // the pass's copy of list (fan-out goroutine only)
}

type deltaKey struct {
	page  int
	since uint64
}

// deltaCache shares the deltas of one pass between its workers.
type deltaCache struct {
	mu sync.Mutex
	m  map[deltaKey]delta
}

func (c *deltaCache) get(d *directory, r *region, page int, since uint64) delta {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := deltaKey{page, since}
	if dl, ok := c.m[k]; ok {
		return dl
	}
	d.mu.RLock()
	dl := d.encodeDelta(r, page, since)
	d.mu.RUnlock()
	c.m[k] = dl
	return dl
}

// watchSetOf returns the region's watcher set, creating it; nil once the
// hall stopped.
func (h *Server) watchSetOf(r *region) *watchSet {
	h.watchMu.Lock()
	defer h.watchMu.Unlock()
	if h.watchStopped {
		return nil
	}
	s := h.watchSets[r]
	if s == nil {
		s = &watchSet{h: h, reg: r}
		h.watchSets[r] = s
	}
	return s
}

// add registers w; false if the set is closed (the region went, or the
// hall stops).
func (s *watchSet) add(w *watcher) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	w.idx = len(s.list)
	s.list = append(s.list, w)
	s.h.clients.Add(1)
	s.h.m.watchers.Inc()
	return true
}

// drop closes w, after frame (a close frame, or nil) if the socket takes
// it at once. Only busy's holder may pass a frame.
func (s *watchSet) drop(w *watcher, frame []byte) {
	if w.closed.Swap(true) {
		return
	}
	s.h.accounts.give(w.account)
	switch {
	case w.conn.tls != nil && frame != nil:
		// No write that never waits on TLS: the close frame gets the
		// write timeout on a goroutine of its own.
		go func() {
			w.conn.SetWriteDeadline(time.Now().Add(s.h.cfg.WriteTimeout))
			w.conn.Write(frame)
			w.conn.Close()
		}()
	case frame != nil:
		w.conn.tryWrite(frame)
		w.conn.Close()
	default:
		w.conn.Close()
	}
	s.mu.Lock()
	last := len(s.list) - 1
	s.list[w.idx] = s.list[last]
	s.list[w.idx].idx = w.idx
	s.list[last] = nil
	s.list = s.list[:last]
	s.mu.Unlock()
	s.h.clients.Add(-1)
	s.h.m.watchers.Dec()
}

// closeAll closes every watcher with a close frame (code, reason). A
// watcher being written to gets its frame once the write is over, or is
// closed without one after a second.
func (s *watchSet) closeAll(code int, reason string) {
	frame := closeFrame(code, reason)
	s.mu.Lock()
	s.closed = true
	ws := append([]*watcher(nil), s.list...)
	s.mu.Unlock()
	for try := 0; len(ws) > 0; try++ {
		busy := ws[:0]
		for _, w := range ws {
			switch {
			case w.busy.CompareAndSwap(false, true):
				s.drop(w, frame)
			case try == 100:
				s.drop(w, nil) // its write fails and ends
			default:
				busy = append(busy, w)
			}
		}
		ws = busy
		if len(ws) > 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// fanout runs one pass over every region's watchers.
func (h *Server) fanout(now time.Time) {
	h.watchMu.Lock()
	sets := make([]*watchSet, 0, len(h.watchSets))
	for r, s := range h.watchSets {
		select {
		case <-r.gone:
			delete(h.watchSets, r)
			go s.closeAll(closeGoingAway, "region removed")
			continue
		default:
		}
		sets = append(sets, s)
	}
	h.watchMu.Unlock()
	gap := h.watchGap()
	for _, s := range sets {
		s.pass(now, gap)
	}
}

// watchGap is the least time between two messages to one watcher: the
// publish interval, or longer when that many watchers would take more than
// MaxWatchMessages a second. Writes are the fan-out's cost (one system call
// each), so the budget bounds the CPU the stream takes; past it, watchers
// get their (coalesced) deltas less often instead of late.
func (h *Server) watchGap() time.Duration {
	gap := h.cfg.DeltaInterval
	if n := h.clients.Load(); n > 0 {
		gap = max(gap, time.Duration(n)*time.Second/time.Duration(h.cfg.MaxWatchMessages))
	}
	return gap
}

// pass sends every watcher of the set what it misses, on up to GOMAXPROCS
// workers.
func (s *watchSet) pass(now time.Time, gap time.Duration) {
	version := s.reg.latest.Load()
	s.mu.Lock()
	s.scratch = append(s.scratch[:0], s.list...)
	s.mu.Unlock()
	ws := s.scratch
	cache := &deltaCache{m: map[deltaKey]delta{}}
	workers := min(runtime.GOMAXPROCS(0), 1+len(ws)/256)
	var wg sync.WaitGroup
	for i := range workers {
		part := ws[len(ws)*i/workers : len(ws)*(i+1)/workers]
		wg.Go(func() {
			var buf [maxClientBytes]byte
			for _, w := range part {
				s.serve(w, version, now, gap, cache, buf[:])
			}
		})
	}
	wg.Wait()
	clear(s.scratch) // no references to dropped watchers
}

// serve sends w what it misses of version, or pings it when due.
func (s *watchSet) serve(w *watcher, version uint64, now time.Time, gap time.Duration, cache *deltaCache, buf []byte) {
	ns := now.UnixNano()
	// Passes come every DeltaInterval, give or take the ticker's jitter.
	soon := ns-w.sent.Load() < int64(gap-s.h.cfg.DeltaInterval/2)
	behind := w.version.Load() < version && !soon
	pingDue := ns-w.pinged.Load() >= int64(s.h.cfg.PingInterval)
	if !behind && !pingDue {
		return
	}
	if !w.busy.CompareAndSwap(false, true) {
		return // being closed, or finishing a write on its own goroutine
	}
	if w.closed.Load() {
		return
	}
	if ns-w.pinged.Load() >= int64(s.h.cfg.PingInterval) {
		w.pinged.Store(ns)
		if !s.ping(w, buf) {
			return
		}
	}
	if have := w.version.Load(); have < version && !soon {
		dl := cache.get(s.h.dir, s.reg, w.page, have)
		if dl.empty && ns-w.sent.Load() < int64(totalsEvery) {
			w.busy.Store(false)
			return
		}
		if !s.write(w, dl, now) {
			return // dropped, or finishing on its own goroutine
		}
	}
	w.busy.Store(false)
}

// write sends dl to w (busy held) and reports whether it went out whole;
// otherwise w was dropped or a goroutine finishes the write.
func (s *watchSet) write(w *watcher, dl delta, now time.Time) bool {
	n, err := w.conn.tryWrite(dl.frame)
	if err != nil {
		s.drop(w, nil)
		return false
	}
	if n < len(dl.frame) {
		if w.conn.tls == nil { // TLS watchers are all written by finish
			s.h.m.watchStalls.Inc()
		}
		go s.finish(w, dl.frame[n:], true, dl.oldest, dl.version)
		return false
	}
	s.sent(w, dl.oldest, dl.version, now)
	return true
}

func (s *watchSet) sent(w *watcher, oldest int64, version uint64, now time.Time) {
	w.version.Store(version)
	w.sent.Store(now.UnixNano())
	s.h.m.deltasSent.Inc()
	if oldest > 0 {
		s.h.m.lag.Observe(float64(now.UnixNano()-oldest) / 1e9)
	}
}

// finish writes the rest of a message the socket did not take at once,
// then whatever was published meanwhile, and gives w back to the pass
// (msg: rest ends a message, not a ping).
// A client that does not read for WriteTimeout is dropped.
func (s *watchSet) finish(w *watcher, rest []byte, msg bool, oldest int64, version uint64) {
	for {
		w.conn.SetWriteDeadline(time.Now().Add(s.h.cfg.WriteTimeout))
		if _, err := w.conn.Write(rest); err != nil {
			s.drop(w, nil)
			return
		}
		if msg {
			s.sent(w, oldest, version, time.Now())
		}
		msg = true
		if s.reg.latest.Load() <= version {
			break
		}
		s.h.dir.mu.RLock()
		dl := s.h.dir.encodeDelta(s.reg, w.page, version)
		s.h.dir.mu.RUnlock()
		rest, oldest, version = dl.frame, dl.oldest, dl.version
	}
	w.conn.SetWriteDeadline(time.Time{})
	w.busy.Store(false)
}

// ping reads what the client sent (answering pings and close) and pings
// it; busy is held. It reports false if w was dropped.
func (s *watchSet) ping(w *watcher, buf []byte) bool {
	n := copy(buf, w.in)
	m, err := w.conn.tryRead(buf[n:])
	if err != nil {
		s.drop(w, nil)
		return false
	}
	frames, rest, err := parseClientFrames(buf[:n+m])
	switch {
	case err != nil:
		s.drop(w, closeFrame(closeProtocolError, err.Error()))
		return false
	case len(rest) == len(buf):
		s.drop(w, closeFrame(closePolicy, "too much unread data"))
		return false
	}
	w.in = append(w.in[:0], rest...)
	var out []byte
	for _, f := range frames {
		switch f.op {
		case opPing:
			out = appendFrame(out, opPong, f.payload)
		case opClose:
			s.drop(w, closeFrame(closeNormal, ""))
			return false
		}
	}
	out = append(out, pingFrame...)
	n, err = w.conn.tryWrite(out)
	switch {
	case err != nil:
		s.drop(w, nil)
		return false
	case n < len(out):
		if w.conn.tls == nil {
			s.h.m.watchStalls.Inc()
		}
		go s.finish(w, out[n:], false, 0, w.version.Load())
		return false
	}
	return true
}
