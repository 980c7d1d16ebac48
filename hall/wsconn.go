package hall

import (
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"
)

// The watch stream's WebSocket, server side, written for fan-out (RFC 6455):
// a message is framed once and the same bytes go to every watcher of a
// page; several messages can go out in one write; a watcher holds no
// goroutine and no buffer while idle. The hall only sends text messages
// (and pings/close); clients send only control frames, which are read when
// the hall pings (see watchSet.sweep).

// WebSocket opcodes.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// WebSocket close codes used by the hall.
const (
	closeNormal        = 1000
	closeGoingAway     = 1001
	closeProtocolError = 1002
	closePolicy        = 1008
)

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// errNotWebSocket: the request is not a WebSocket upgrade.
var errNotWebSocket = errors.New("a WebSocket upgrade is required (GET with Upgrade: websocket, Sec-WebSocket-Version: 13)")

// checkUpgrade validates a WebSocket handshake request and returns the
// Sec-WebSocket-Accept value for it.
func checkUpgrade(r *http.Request) (string, error) {
	if !headerHas(r.Header, "Connection", "upgrade") || !headerHas(r.Header, "Upgrade", "websocket") {
		return "", errNotWebSocket
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" {
		return "", fmt.Errorf("unsupported Sec-WebSocket-Version %q: use 13", v)
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		return "", errors.New("Sec-WebSocket-Key must be 16 bytes in base64")
	}
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:]), nil
}

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// WatchProtocol is the watch stream's WebSocket subprotocol. A browser
// offers it with its ticket's (login.TicketProtocolPrefix); the hall
// answers with this one, so the ticket is never echoed.
const WatchProtocol = "gamehall.watch"

// upgradeResponse is the 101 answer that completes the handshake; proto is
// the subprotocol chosen ("": none offered).
func upgradeResponse(accept, proto string) []byte {
	b := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n"
	if proto != "" {
		b += "Sec-WebSocket-Protocol: " + proto + "\r\n"
	}
	return []byte(b + "\r\n")
}

// chooseProtocol answers WatchProtocol if the client offered it.
func chooseProtocol(r *http.Request) string {
	if headerHas(r.Header, "Sec-WebSocket-Protocol", WatchProtocol) {
		return WatchProtocol
	}
	return ""
}

// appendFrame appends one unmasked, final server frame.
func appendFrame(b []byte, op byte, payload []byte) []byte {
	n := len(payload)
	switch {
	case n <= 125:
		b = append(b, 0x80|op, byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|op, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|op, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// closeFrame is a close frame with a status code and a short reason.
func closeFrame(code int, reason string) []byte {
	if len(reason) > 120 {
		reason = reason[:120]
	}
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return appendFrame(nil, opClose, append(p, reason...))
}

// clientFrame is one control frame a client sent.
type clientFrame struct {
	op      byte
	payload []byte // unmasked
}

// errClientData: a client sent a data message; the stream takes none.
var errClientData = errors.New("the watch stream takes no messages from the client")

// maxClientBytes bounds what the hall keeps of a client's unread frames.
const maxClientBytes = 1024

// parseClientFrames reads the complete frames at the start of b (what a
// client sent since the last read; untrusted) and returns them with the
// bytes of an incomplete last frame. Clients must mask their frames (RFC
// 6455 5.1) and may only send control frames here: pongs, pings and close.
func parseClientFrames(b []byte) (frames []clientFrame, rest []byte, err error) {
	for len(b) > 0 {
		if len(b) < 2 {
			return frames, b, nil
		}
		fin, rsv, op := b[0]&0x80 != 0, b[0]&0x70, b[0]&0x0F
		masked, n := b[1]&0x80 != 0, int(b[1]&0x7F)
		switch {
		case rsv != 0:
			return nil, nil, errors.New("reserved bits set (no extension was negotiated)")
		case !masked:
			return nil, nil, errors.New("client frame not masked")
		case op == opText || op == 0x2 || op == 0x0:
			return nil, nil, errClientData
		case op != opClose && op != opPing && op != opPong:
			return nil, nil, fmt.Errorf("unknown opcode %#x", op)
		case !fin || n > 125:
			return nil, nil, errors.New("control frame fragmented or longer than 125 bytes")
		}
		if len(b) < 2+4+n {
			return frames, b, nil
		}
		mask, p := b[2:6], make([]byte, n)
		for i := range n {
			p[i] = b[6+i] ^ mask[i&3]
		}
		if op == opClose && (n == 1 || (n >= 2 && !utf8.Valid(p[2:]))) {
			return nil, nil, errors.New("malformed close frame")
		}
		frames = append(frames, clientFrame{op: op, payload: p})
		b = b[6+n:]
	}
	return frames, nil, nil
}

// rawConn is the socket under a hijacked connection, for writes and reads
// that never wait.
type rawConn struct {
	net.Conn
	rc  syscall.RawConn // nil: a TLS connection, see tlsIn
	tls *tlsIn
}

// tlsIn is what a TLS watcher sent, read on a goroutine of its own: a TLS
// connection has no socket to read without waiting. Its writes all go
// through watchSet.finish (blocking, with the write timeout).
type tlsIn struct {
	mu  sync.Mutex
	buf []byte
	err error
}

func newRawConn(c net.Conn) (*rawConn, error) {
	if tc, ok := c.(*tls.Conn); ok {
		r := &rawConn{Conn: tc, tls: &tlsIn{}}
		go r.readTLS()
		return r, nil
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("hijacked connection %T has no file descriptor", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c, rc: rc}, nil
}

// readTLS fills c.tls until the connection fails; a client that sends
// more than a watcher ever reads is cut off.
func (c *rawConn) readTLS() {
	var b [512]byte
	for {
		n, err := c.Conn.Read(b[:])
		c.tls.mu.Lock()
		c.tls.buf = append(c.tls.buf, b[:n]...)
		if err == nil && len(c.tls.buf) > maxClientBytes {
			err = errors.New("too much unread data")
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errClosedByPeer
			}
			c.tls.err = err
		}
		c.tls.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// tryWrite writes what the socket takes now and returns how much it took;
// it never waits (a full send buffer gives n < len(b) and no error). A TLS
// connection takes nothing here: watchSet.finish writes it.
func (c *rawConn) tryWrite(b []byte) (n int, err error) {
	if c.tls != nil {
		return 0, nil
	}
	werr := c.rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, e := syscall.Write(int(fd), b[n:])
			if e == syscall.EINTR {
				continue
			}
			if e != nil {
				if e != syscall.EAGAIN {
					err = e
				}
				return true
			}
			n += m
		}
		return true
	})
	if err == nil {
		err = werr
	}
	return n, err
}

// tryRead reads what has arrived, without waiting; io.EOF-like closes come
// back as errClosedByPeer.
func (c *rawConn) tryRead(b []byte) (n int, err error) {
	if c.tls != nil {
		c.tls.mu.Lock()
		defer c.tls.mu.Unlock()
		n = copy(b, c.tls.buf)
		c.tls.buf = c.tls.buf[n:]
		if n == 0 {
			err = c.tls.err
		}
		return n, err
	}
	rerr := c.rc.Read(func(fd uintptr) bool {
		for {
			m, e := syscall.Read(int(fd), b)
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
			case e != nil:
				err = e
			case m == 0:
				err = errClosedByPeer
			default:
				n = m
			}
			return true
		}
	})
	if err == nil {
		err = rerr
	}
	return n, err
}

var errClosedByPeer = errors.New("connection closed by the client")
