package hall

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gamehall/gamehall/login"
)

// handleWatch streams a page of a region's rooms (or the whole region) over
// a WebSocket of JSON text messages (docs/protocol.md, "The hall's watch
// stream"):
//
//	?page=N     rooms (N-1)·pageSize+1 … N·pageSize
//	?page=auto  a page with free seats, picked by the hall
//	(no page)   the whole region
//	&epoch=E&since=V  resume from version V of epoch E
//
// The first message is a snapshot, or "resume" when the resume is possible;
// then a delta whenever the page changed, each covering everything since
// the client's version. Every message carries the region's totals.
func (h *Server) handleWatch(w http.ResponseWriter, r *http.Request) {
	claims, ok := h.guardClaims(w, r, true)
	if !ok {
		return
	}
	reg := h.region(w, r)
	if reg == nil {
		return
	}
	wp, err := parseWatchParams(r.URL.Query(), reg.epoch)
	if err != nil {
		login.WriteError(w, http.StatusBadRequest, login.CodeBadRequest, err.Error())
		return
	}
	accept, err := checkUpgrade(r)
	if err != nil {
		login.WriteError(w, http.StatusUpgradeRequired, login.CodeBadRequest, err.Error())
		return
	}
	set := h.watchSetOf(reg)
	hj, ok := w.(http.Hijacker)
	if set == nil || !ok {
		login.WriteError(w, http.StatusServiceUnavailable, codeNotSynced, "the hall is stopping")
		return
	}
	if !h.accounts.take(claims.Account, h.cfg.MaxWatchersPerAccount) {
		h.m.redirects.WithLabelValues("account_limit").Inc()
		login.WriteError(w, http.StatusTooManyRequests, CodeTooManyWatchers, fmt.Sprintf(
			"account %q already has %d watch streams open on this hall, the most one account may; close one (another tab?)", claims.Account, h.cfg.MaxWatchersPerAccount))
		return
	}
	taken := true // until the watcher's drop gives it back
	defer func() {
		if taken {
			h.accounts.give(claims.Account)
		}
	}()
	nc, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	// The stream outlives the HTTP server's timeouts: Hijack clears the read
	// deadline but keeps the write deadline; the watch bounds its own writes.
	_ = nc.SetDeadline(time.Time{})
	conn, err := newRawConn(nc)
	if err != nil || brw.Reader.Buffered() > 0 {
		// Not a plain socket, or the client spoke before the handshake ended.
		nc.Close()
		return
	}
	page := wp.page
	if wp.auto {
		page = h.autoPage(reg)
	}
	// Registered before the first write (busy keeps the fan-out off it), so
	// that a hall stopping meanwhile closes it too.
	wt := &watcher{conn: conn, set: set, page: page, account: claims.Account}
	wt.busy.Store(true)
	if !set.add(wt) {
		nc.Close()
		return
	}
	taken = false
	first, version := h.firstMessage(reg, page, wp.resume, wp.since)
	nc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	_, err = nc.Write(append(upgradeResponse(accept, chooseProtocol(r)), first...))
	nc.SetWriteDeadline(time.Time{})
	if err != nil {
		set.drop(wt, nil)
		return
	}
	now := time.Now().UnixNano()
	wt.version.Store(version)
	wt.sent.Store(now)
	wt.pinged.Store(now)
	wt.busy.Store(false)
}

// watchParams is what a watch request asks for: a page (or auto, or the
// whole region) and, to resume, the version it has of the region's epoch.
type watchParams struct {
	page   int
	auto   bool
	since  uint64
	resume bool // since is of the current epoch
}

// parseWatchParams reads a watch request's page, since and epoch.
func parseWatchParams(q url.Values, epoch string) (watchParams, error) {
	var wp watchParams
	var err error
	if wp.page, wp.auto, err = parsePage(q.Get("page")); err != nil {
		return wp, err
	}
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return wp, fmt.Errorf("since must be a version number: %w", err)
		}
		wp.since, wp.resume = n, q.Get("epoch") == epoch
	}
	return wp, nil
}

// parsePage reads the page parameter: a page number ≥ 1, "auto", or none
// (0, the whole region).
func parsePage(v string) (page int, auto bool, err error) {
	switch v {
	case "":
		return 0, false, nil
	case "auto":
		return 0, true, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxRoomNumber {
		return 0, false, fmt.Errorf("page must be a page number from 1, or auto; got %q", v)
	}
	return n, false, nil
}

// firstMessage is what a new watcher gets first, as WebSocket frames: a
// snapshot, or a resume (and the changes since, if any) when since is a
// version of the region's current epoch. It returns the version the client
// is at after it.
func (h *Server) firstMessage(reg *region, page int, resume bool, since uint64) ([]byte, uint64) {
	d := h.dir
	if page == 0 && !resume {
		s := d.snapshotOf(reg)
		h.m.snapshots.WithLabelValues("watch").Inc()
		return s.frame, s.version
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if resume && since <= reg.version {
		out := appendFrame(nil, opText, d.encodeResume(reg, page, since))
		if since == reg.version {
			return out, since
		}
		dl := d.encodeDelta(reg, page, since)
		return append(out, dl.frame...), dl.version
	}
	h.m.snapshots.WithLabelValues("watch").Inc()
	return appendFrame(nil, opText, d.encodeSnapshot(reg, page)), reg.version
}

// autoPage picks a page with free seats, at random weighted by its free
// seats, so that clients spread over the region; page 1 if none has any.
func (h *Server) autoPage(reg *region) int {
	h.dir.mu.RLock()
	defer h.dir.mu.RUnlock()
	free := 0
	for _, p := range reg.pageLoad {
		free += max(0, p.capacity-p.players)
	}
	if free == 0 {
		return 1
	}
	pick := rand.IntN(free)
	for i, p := range reg.pageLoad {
		if pick -= max(0, p.capacity-p.players); pick < 0 {
			return i + 1
		}
	}
	return 1
}
