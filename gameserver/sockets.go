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
	_ = nc.SetReadDeadline(time.Now().Add(s.cfg.HelloTimeout))
	var hdr [protocol.HeaderSize]byte
	n, err := readFull(nc, hdr[:])
	// Past the first bytes the socket is a connection of a protocol, which
	// shutdown kicks with a reason: closing it as raw would lose the reason.
	s.mu.Lock()
	delete(s.raw, nc)
	s.mu.Unlock()
	if err != nil {
		nc.Close()
		return
	}
	if string(hdr[:n]) == "GET " {
		pc := &prefixConn{Conn: nc, prefix: append([]byte(nil), hdr[:n]...), closed: make(chan struct{})}
		select {
		case s.wsConns <- pc:
			<-pc.closed // keeps the WebSocket's life inside s.wg
		case <-s.stopped:
			nc.Close()
		case <-time.After(s.cfg.HelloTimeout):
			nc.Close()
		}
		return
	}
	tr := &tcpTransport{c: &prefixConn{Conn: nc, prefix: append([]byte(nil), hdr[:n]...)}}
	s.runConn(newConn(s, tr))
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

// prefixConn replays bytes already read from the socket.
type prefixConn struct {
	net.Conn
	prefix []byte
	closed chan struct{} // nil, or closed by Close
	once   sync.Once
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
