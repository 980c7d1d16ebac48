package hall

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/gamehall/gamehall/login"
)

// pingEvery keeps idle watch connections alive through proxies and finds
// dead clients.
const pingEvery = 30 * time.Second

// handleWatch streams a region: a snapshot (or, with ?epoch=E&since=V from
// a recent message, a "resume" message and the deltas after V), then a
// delta per change batch. Messages are JSON text frames:
//
//	{"type":"snapshot","region","epoch","version","players","capacity","rooms":[Room...]}
//	{"type":"resume","region","epoch","version"}
//	{"type":"delta","region","version","players","capacity","rooms":[Room...],"counts":[[room,players]...],"removed":[room numbers]}
//
// A delta's version is always the previous message's version + 1.
func (h *Server) handleWatch(w http.ResponseWriter, r *http.Request) {
	if !h.guard(w, r, true) {
		return
	}
	reg := h.region(w, r)
	if reg == nil {
		return
	}
	q := r.URL.Query()
	var since uint64
	resume := false
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			login.WriteError(w, http.StatusBadRequest, login.CodeBadRequest, "since must be a version number: "+err.Error())
			return
		}
		since, resume = n, q.Get("epoch") == reg.epoch
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// The ticket authenticates; browsers on any origin may watch.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept answered the client
	}
	h.clients.Add(1)
	h.m.watchers.Inc()
	defer func() {
		h.clients.Add(-1)
		h.m.watchers.Dec()
	}()
	err = h.watch(c.CloseRead(r.Context()), c, reg, resume, since)
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		c.Close(websocket.StatusNormalClosure, "")
	case errors.Is(err, errRegionGone):
		c.Close(websocket.StatusGoingAway, "region removed")
	default:
		c.CloseNow()
	}
}

var errRegionGone = errors.New("region removed")

func (h *Server) watch(ctx context.Context, c *websocket.Conn, reg *region, resume bool, since uint64) error {
	write := func(b []byte) error {
		wctx, cancel := context.WithTimeout(ctx, h.cfg.WriteTimeout)
		defer cancel()
		return c.Write(wctx, websocket.MessageText, b)
	}
	var node *delta // the last delta (or snapshot point) this client has
	if resume {
		h.dir.mu.RLock()
		n, ok := h.dir.nodeAt(reg, since)
		name := reg.info.Name // setRegions rewrites reg.info under d.mu
		h.dir.mu.RUnlock()
		if ok {
			msg := []byte(`{"type":"resume","region":` + quote(name) + `,"epoch":` + quote(reg.epoch) + `,"version":` + strconv.FormatUint(since, 10) + `}`)
			if err := write(msg); err != nil {
				return err
			}
			node = n
		}
	}
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		// First message, or so far behind (a slow client, an overloaded
		// hall) that jumping to a snapshot beats sending every delta: it
		// bounds the client's lag. A snapshot never moves a client back.
		if node == nil || reg.latest.Load()-node.version > uint64(h.cfg.MaxLag) {
			if s := h.dir.snapshotOf(reg); node == nil || s.version > node.version {
				if err := write(s.watch); err != nil {
					return err
				}
				h.m.snapshots.WithLabelValues("watch").Inc()
				node = s.node
			}
		}
		select {
		case <-node.ready:
			node = node.next
			if err := write(node.msg); err != nil {
				return err
			}
			h.m.deltasSent.Inc()
			h.m.lag.Observe(time.Since(node.received).Seconds())
		case <-reg.gone:
			return errRegionGone
		case <-ctx.Done():
			return ctx.Err()
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, h.cfg.WriteTimeout)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		}
	}
}

func quote(s string) string {
	var b bytes.Buffer
	writeString(&b, s)
	return b.String()
}
