package gameserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/gamehall/gamehall/internal/httpserver"
	"github.com/gamehall/gamehall/protocol"
)

// chanListener feeds sockets that began with "GET " to an http.Server.
type chanListener struct {
	ch      chan net.Conn
	addr    net.Addr
	stopped <-chan struct{} // the server's
	done    chan struct{}
	closed  sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-l.stopped:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// serveWebSockets serves browser clients on the players' port: GET /ws
// upgrades to a WebSocket whose binary messages are frames.
func (s *Server) serveWebSockets() {
	l := &chanListener{ch: s.wsConns, addr: s.ln.Addr(), stopped: s.stopped, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		// The connection outlives the server's timeouts once upgraded (the
		// Hello bound and conn's own deadlines take over); Accept clears
		// them too, this keeps it so whatever the library does.
		_ = httpserver.LongLived(w)
		// Tickets travel inside Hello, never in cookies, so any origin
		// (the hall's lobby page) may connect.
		wc, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true,
			Subprotocols: []string{protocol.JSONSubprotocol}})
		if err != nil {
			return // Accept answered the client
		}
		json := wc.Subprotocol() == protocol.JSONSubprotocol
		// A JSON message is longer than its binary frame: allow 4× (the
		// codec still enforces MaxFrame on the JSON text itself).
		limit := int64(s.cfg.MaxFrame + protocol.HeaderSize)
		if json {
			limit = int64(4 * s.cfg.MaxFrame)
		}
		wc.SetReadLimit(limit)
		ctx, cancel := context.WithCancel(context.Background())
		tr := &wsTransport{c: wc, ctx: ctx, cancel: cancel, remoteAddr: r.RemoteAddr, json: json}
		auth, _ := r.Context().Value(preAuthKey{}).(preAuth)
		s.runConn(newConn(s, tr, auth))
	})
	hs := httpserver.New(mux)
	// The upgrade request comes within the Hello bound anyway.
	hs.ReadHeaderTimeout, hs.ReadTimeout, hs.IdleTimeout = s.cfg.HelloTimeout, s.cfg.HelloTimeout, s.cfg.HelloTimeout
	hs.WriteTimeout = s.cfg.WriteTimeout
	// The socket's Hello bound (set at accept) reaches the handler.
	hs.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if pc, ok := c.(*prefixConn); ok {
			return context.WithValue(ctx, preAuthKey{}, pc.auth)
		}
		return ctx
	}
	go func() {
		<-s.stopped
		hs.Close()
	}()
	_ = hs.Serve(l)
}

type preAuthKey struct{}

type wsTransport struct {
	c          *websocket.Conn
	ctx        context.Context
	cancel     context.CancelFunc
	remoteAddr string
	json       bool // protocol.JSONSubprotocol: text messages of JSON Envelopes
}

func (t *wsTransport) readFrame(max int, deadline time.Time) ([]byte, error) {
	ctx, cancel := context.WithDeadline(t.ctx, deadline)
	defer cancel()
	typ, b, err := t.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	if t.json {
		if typ != websocket.MessageText {
			return nil, fmt.Errorf("%w: binary message on the JSON subprotocol", protocol.ErrBadMessage)
		}
		return protocol.PayloadFromJSON(b, 4*max)
	}
	if typ != websocket.MessageBinary {
		return nil, fmt.Errorf("%w: text message without the %s subprotocol", protocol.ErrBadMessage, protocol.JSONSubprotocol)
	}
	return protocol.SplitFrame(b, max)
}

func (t *wsTransport) writeFrames(frames [][]byte, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(t.ctx, deadline)
	defer cancel()
	// One protocol frame per WebSocket message; a room's batch holds several.
	for _, b := range frames {
		for f, rest, ok := protocol.NextFrame(b); ok; f, rest, ok = protocol.NextFrame(rest) {
			if t.json {
				// Frames are encoded once for every binary receiver; JSON
				// clients (browsers, few) pay a transcode each.
				j, err := protocol.FrameToJSON(f)
				if err != nil {
					return err
				}
				if err := t.c.Write(ctx, websocket.MessageText, j); err != nil {
					return err
				}
				continue
			}
			if err := t.c.Write(ctx, websocket.MessageBinary, f); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *wsTransport) close() error {
	t.cancel()
	return t.c.CloseNow()
}

func (t *wsTransport) remote() string { return t.remoteAddr }
