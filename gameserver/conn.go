package gameserver

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gamehall/gamehall/protocol"
	"github.com/gamehall/gamehall/protocol/pb"
)

// transport is one client's byte pipe: a TCP socket or a WebSocket.
type transport interface {
	// readFrame returns one frame's payload.
	readFrame(max int, deadline time.Time) ([]byte, error)
	// writeFrames writes whole frames (length prefix included).
	writeFrames(frames [][]byte, deadline time.Time) error
	close() error
	remote() string
}

type tcpTransport struct {
	c    net.Conn
	hdr  [protocol.HeaderSize]byte
	bufs net.Buffers
}

func (t *tcpTransport) readFrame(max int, deadline time.Time) ([]byte, error) {
	if err := t.c.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(t.c, t.hdr[:]); err != nil {
		return nil, err
	}
	n, err := protocol.CheckHeader(t.hdr[:], max)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(t.c, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

func (t *tcpTransport) writeFrames(frames [][]byte, deadline time.Time) error {
	if err := t.c.SetWriteDeadline(deadline); err != nil {
		return err
	}
	// writev: one syscall for a batch without copying the shared frames.
	t.bufs = append(t.bufs[:0], frames...)
	_, err := t.bufs.WriteTo(t.c)
	return err
}

func (t *tcpTransport) close() error   { return t.c.Close() }
func (t *tcpTransport) remote() string { return t.c.RemoteAddr().String() }

// outFrame is a queued frame, or a batch of whole frames shared by a
// room's members; at is when it (its oldest frame) was queued, for the
// delivery histogram, zero for frames not worth measuring.
type outFrame struct {
	b  []byte
	at int64
}

// conn is one client connection. The reader goroutine handles requests in
// order; the writer goroutine drains a bounded queue, so a slow client fills
// its own queue and is disconnected instead of stalling a room's broadcast.
type conn struct {
	s      *Server
	tr     transport
	out    chan outFrame
	done   chan struct{}
	once   sync.Once
	reason string // why it closed (guarded by once)
	p      *player
	msgs   bucket
	chat   bucket
	floods int
	auth   preAuth
}

func newConn(s *Server, tr transport, auth preAuth) *conn {
	now := time.Now()
	return &conn{
		s:    s,
		tr:   tr,
		auth: auth,
		out:  make(chan outFrame, s.cfg.WriteQueue),
		done: make(chan struct{}),
		msgs: newBucket(s.cfg.MsgRate, s.cfg.MsgBurst, now),
		chat: newBucket(s.cfg.ChatRate, s.cfg.ChatBurst, now),
	}
}

// send queues a frame (or a batch of frames) without blocking; at is when
// it was made (unix ns, 0: not measured). A full queue means the client does
// not keep up: it is disconnected.
func (c *conn) send(b []byte, at int64) {
	f := outFrame{b: b, at: at}
	select {
	case <-c.done:
	case c.out <- f:
	default:
		c.s.metrics.slowClients.Inc()
		c.close("slow client: write queue full")
	}
}

func (c *conn) sendMsg(seq uint32, env *pb.Envelope) {
	env.Seq = seq
	c.send(protocol.MustMarshal(env), 0)
}

func (c *conn) sendError(seq uint32, code pb.ErrorCode, msg string, rooms ...int32) {
	c.s.metrics.errors.WithLabelValues(code.String()).Inc()
	c.sendMsg(seq, &pb.Envelope{Msg: &pb.Envelope_Error{Error: &pb.Error{Code: code, Message: msg, Rooms: rooms}}})
}

func (c *conn) sendOK(seq uint32) {
	c.sendMsg(seq, &pb.Envelope{Msg: &pb.Envelope_Ok{Ok: &pb.Ok{}}})
}

// kick tells the client why and closes after the writer flushed the notice.
func (c *conn) kick(why kickReason) {
	b := protocol.MustMarshal(&pb.Envelope{Msg: &pb.Envelope_Kicked{Kicked: &pb.Kicked{Reason: why.text, Code: why.code}}})
	select {
	case c.out <- outFrame{b: b}:
	default:
	}
	c.closeAfterFlush(why.text)
}

func (c *conn) close(reason string) {
	c.once.Do(func() {
		c.reason = reason
		close(c.done)
		c.tr.close()
	})
}

// closeAfterFlush lets the writer send what is queued (e.g. Kicked), then
// close; bounded by the write timeout.
func (c *conn) closeAfterFlush(reason string) {
	select {
	case c.out <- outFrame{b: nil}: // nil marks "close after this"
	default:
		c.close(reason)
		return
	}
	c.s.log.V(1).Info("closing connection", "remote", c.tr.remote(), "reason", reason)
	go func() {
		t := time.NewTimer(c.s.cfg.WriteTimeout)
		defer t.Stop()
		select {
		case <-c.done:
		case <-t.C:
			c.close(reason)
		}
	}()
}

func (c *conn) writeLoop() {
	frames := make([][]byte, 0, 64)
	ats := make([]int64, 0, 64)
	for {
		var f outFrame
		select {
		case <-c.done:
			return
		case f = <-c.out:
		}
		frames, ats = frames[:0], ats[:0]
		closing := false
	collect:
		for {
			if f.b == nil {
				closing = true
				break
			}
			frames = append(frames, f.b)
			ats = append(ats, f.at)
			if len(frames) == cap(frames) {
				break
			}
			select {
			case f = <-c.out:
			default:
				break collect
			}
		}
		if len(frames) > 0 {
			if err := c.tr.writeFrames(frames, time.Now().Add(c.s.cfg.WriteTimeout)); err != nil {
				c.close("write failed: " + err.Error())
				return
			}
			c.s.metrics.framesOut.Add(float64(countFrames(frames)))
			c.s.metrics.writes.Inc()
			now := time.Now().UnixNano()
			for _, at := range ats {
				if at != 0 {
					c.s.metrics.delivery.Observe(float64(now-at) / 1e9)
				}
			}
		}
		if closing {
			c.close("kicked")
			return
		}
	}
}

// countFrames counts the frames in a write (an item may be a room's batch).
func countFrames(items [][]byte) int {
	n := 0
	for _, b := range items {
		for ok := true; ok; {
			_, b, ok = protocol.NextFrame(b)
			if ok {
				n++
			}
		}
	}
	return n
}

// readLoop runs on the connection's own goroutine until the client goes.
func (c *conn) readLoop() {
	for {
		// Before Hello the deadline is fixed at accept + HelloTimeout: no
		// frame, good or bad, buys an unauthenticated socket more time.
		deadline := c.auth.by
		if c.p != nil || deadline.IsZero() {
			deadline = time.Now().Add(3 * c.s.cfg.PingInterval)
		}
		payload, err := c.tr.readFrame(c.s.cfg.MaxFrame, deadline)
		// A malformed message (bad JSON, a wrong WebSocket message type)
		// is answered like a bad payload below.
		if err != nil && !errors.Is(err, protocol.ErrBadMessage) {
			switch {
			case errors.Is(err, protocol.ErrFrameTooLarge), errors.Is(err, protocol.ErrEmptyFrame):
				c.sendError(0, pb.ErrorCode_FRAME_TOO_LARGE, err.Error())
				c.closeAfterFlush("bad frame")
			default:
				c.close("read: " + err.Error())
			}
			return
		}
		c.s.metrics.framesIn.Inc()
		var env *pb.Envelope
		if err == nil {
			env, err = protocol.DecodeEnvelope(payload)
		}
		if err != nil {
			c.sendError(0, pb.ErrorCode_BAD_REQUEST, err.Error())
			if c.p == nil {
				// Junk before Hello is no client of ours: the answer says
				// why, and the socket goes.
				c.s.metrics.preAuthClosed.WithLabelValues(preAuthMalformed).Inc()
				c.closeAfterFlush("malformed frame before Hello")
				return
			}
			continue
		}
		if !c.msgs.take(time.Now()) {
			c.floods++
			if c.floods > 100 {
				c.kick(kickFlooding)
				return
			}
			c.sendError(env.Seq, pb.ErrorCode_RATE_LIMITED, "too many messages; slow down")
			continue
		}
		if c.p == nil {
			if !c.s.hello(c, env) {
				c.closeAfterFlush("hello refused")
				return
			}
			if !c.auth.authenticated() {
				return // the Hello bound fired meanwhile: the socket is closed
			}
			continue
		}
		c.s.handle(c, env)
		select {
		case <-c.done:
			return
		default:
		}
	}
}

// bucket is a token bucket (not safe for concurrent use; each lives on one
// goroutine).
type bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int, now time.Time) bucket {
	return bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

func (b *bucket) take(now time.Time) bool {
	b.tokens += now.Sub(b.last).Seconds() * b.rate
	if b.tokens > b.burst {
		b.tokens = b.burst
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
