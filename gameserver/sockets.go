package gameserver

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/gamehall/gamehall/protocol"
)

func (s *Server) acceptLoop() {
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Error(err, "accept failed")
			time.Sleep(100 * time.Millisecond) // e.g. out of file descriptors
			continue
		}
		delay = 0
		s.wg.Go(func() { s.serveSocket(c) })
	}
}

// serveSocket tells WebSocket upgrades from framed TCP by the first four
// bytes: "GET " read as a length is far above any frame size.
func (s *Server) serveSocket(nc net.Conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.raw[nc] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.raw, nc)
		s.mu.Unlock()
	}()
	// The pre-auth bound: a socket that has not said Hello HelloTimeout after
	// accept is closed, whatever it sent meanwhile (slow HTTP headers, junk).
	pre := time.AfterFunc(s.cfg.HelloTimeout, func() {
		s.metrics.preAuthClosed.WithLabelValues(preAuthTimeout).Inc()
		nc.Close()
	})
	helloBy := time.Now().Add(s.cfg.HelloTimeout)
	_ = nc.SetReadDeadline(helloBy)
	var hdr [protocol.HeaderSize]byte
	n, err := readFull(nc, hdr[:])
	// Past the first bytes the socket is a connection of a protocol, which
	// shutdown kicks with a reason: closing it as raw would lose the reason.
	s.mu.Lock()
	delete(s.raw, nc)
	s.mu.Unlock()
	if err != nil {
		pre.Stop()
		nc.Close()
		return
	}
	auth := preAuth{timer: pre, by: helloBy}
	if string(hdr[:n]) == "GET " {
		pc := &prefixConn{Conn: nc, prefix: append([]byte(nil), hdr[:n]...), closed: make(chan struct{}), auth: auth}
		select {
		case s.wsConns <- pc:
			<-pc.closed // keeps the WebSocket's life inside s.wg
		case <-s.stopped:
			nc.Close()
		case <-time.After(s.cfg.HelloTimeout):
			nc.Close()
		}
		pre.Stop()
		return
	}
	tr := &tcpTransport{c: &prefixConn{Conn: nc, prefix: append([]byte(nil), hdr[:n]...)}}
	s.runConn(newConn(s, tr, auth))
	pre.Stop()
}

// runConn runs a connection's reader on this goroutine and its writer on
// another; both end before runConn returns, so no goroutine outlives it.
func (s *Server) runConn(c *conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.tr.close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.metrics.connections.Inc()
	var w sync.WaitGroup
	w.Go(c.writeLoop)
	c.readLoop()
	// Give a kick notice its chance to flush, then make sure the writer ends.
	select {
	case <-c.done:
	case <-time.After(s.cfg.WriteTimeout):
		c.close("reader ended")
	}
	c.close("reader ended")
	w.Wait()
	s.metrics.connections.Dec()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.disconnected(c)
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// preAuth is a connection's bound for saying Hello: the timer closes the
// socket at by unless Hello stopped it first.
type preAuth struct {
	timer *time.Timer // nil: no bound (never for sockets from acceptLoop)
	by    time.Time
}

// authenticated stops the bound; false if it already fired (the socket is
// closing).
func (a preAuth) authenticated() bool { return a.timer == nil || a.timer.Stop() }

// prefixConn replays bytes already read from the socket.
type prefixConn struct {
	net.Conn
	prefix []byte
	closed chan struct{} // nil, or closed by Close
	once   sync.Once
	auth   preAuth // WebSockets: carried to the upgrade handler
}

func (c *prefixConn) Close() error {
	err := c.Conn.Close()
	if c.closed != nil {
		c.once.Do(func() { close(c.closed) })
	}
	return err
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
