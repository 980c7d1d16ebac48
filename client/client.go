// Package client speaks the game server's protocol (package protocol) over
// TCP or WebSocket. Tests, bots and the load generator use it.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/gamehall/gamehall/protocol"
	"github.com/gamehall/gamehall/protocol/pb"
)

// Error is a protocol Error answer.
type Error struct {
	Code    pb.ErrorCode
	Message string
	Rooms   []int32 // ROOM_FULL: rooms of the shard with seats
}

func (e *Error) Error() string { return fmt.Sprintf("gamehall: %s: %s", e.Code, e.Message) }

// Code returns the protocol error code of err, or ERROR_CODE_UNSPECIFIED.
func Code(err error) pb.ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return pb.ErrorCode_ERROR_CODE_UNSPECIFIED
}

// ErrClosed is returned by requests on a closed connection; Err says why.
var ErrClosed = errors.New("gamehall: connection closed")

// KickedError is why a connection ended when the server said why (Kicked).
type KickedError struct {
	Code   pb.KickCode
	Reason string
}

func (e *KickedError) Error() string {
	return fmt.Sprintf("gamehall: kicked (%s): %s", e.Code, e.Reason)
}

// Resumable reports whether a connection that ended with err (its Err) may
// be resumed by dialling the same shard with the same ticket within the
// reconnect grace: it was lost, neither closed by us nor ended by the
// server with a reason.
func Resumable(err error) bool {
	var k *KickedError
	return err != nil && !errors.Is(err, ErrClosed) && !errors.As(err, &k)
}

// ShardGone reports whether err (a connection's Err, or a failed Dial) says
// the shard is going or gone: the player picks a room from the hall again.
func ShardGone(err error) bool {
	var k *KickedError
	if errors.As(err, &k) {
		return k.Code == pb.KickCode_KICK_SHUTDOWN || k.Code == pb.KickCode_KICK_DRAIN_TIMEOUT
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Code == pb.ErrorCode_DRAINING
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// Options tune a connection; zero values take defaults.
type Options struct {
	ClientVersion string // default protocol.Version
	MaxFrame      int    // default protocol.DefaultMaxFrame
	EventBuffer   int    // pushes buffered for Events(); default 1024
	// OnEvent, when set, receives pushes on the reader goroutine instead of
	// the Events channel (no buffering, no extra goroutine: for bots at scale).
	OnEvent func(*pb.Envelope)
	// NoKeepAlive turns off the automatic Ping every Welcome.ping_interval_ms
	// (the server drops connections silent for 3× that).
	NoKeepAlive bool
	// JSON makes DialWebSocket speak protocol.JSONSubprotocol, as the
	// browser lobby does, instead of binary frames.
	JSON bool
	// TLS, if set, makes Dial speak TLS to the shard, and is DialWebSocket's
	// client configuration for wss:// URLs (nil: the system's roots).
	TLS *tls.Config
}

type transport interface {
	read(max int) ([]byte, error)
	write(b []byte) error
	close() error
}

// Conn is one player's connection. Requests may be made from any goroutine;
// each waits for its own answer.
type Conn struct {
	tr      transport
	opts    Options
	wmu     sync.Mutex
	mu      sync.Mutex
	seq     uint32
	pending map[uint32]chan *pb.Envelope
	events  chan *pb.Envelope
	done    chan struct{}
	err     error
	kicked  *pb.Kicked // the server's last word, if it said one
	once    sync.Once

	// Welcome is the server's answer to Hello.
	Welcome *pb.Welcome
}

// Dial connects over TCP to addr ("host:port") and authenticates with ticket.
func Dial(ctx context.Context, addr, ticket string, opts ...Options) (*Conn, error) {
	var nc net.Conn
	var err error
	if o := options(opts); o.TLS != nil {
		d := tls.Dialer{Config: o.TLS}
		nc, err = d.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	return start(ctx, &tcpTransport{c: nc}, ticket, opts)
}

// DialWebSocket connects to a ws:// URL (the players' port, path /ws).
func DialWebSocket(ctx context.Context, url, ticket string, opts ...Options) (*Conn, error) {
	o := options(opts)
	var dopts websocket.DialOptions
	if o.JSON {
		dopts.Subprotocols = []string{protocol.JSONSubprotocol}
	}
	if o.TLS != nil {
		dopts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: o.TLS}}
	}
	wc, _, err := websocket.Dial(ctx, url, &dopts)
	if err != nil {
		return nil, err
	}
	tr := &wsTransport{c: wc, json: o.JSON}
	if o.JSON && wc.Subprotocol() != protocol.JSONSubprotocol {
		wc.CloseNow()
		return nil, fmt.Errorf("gamehall: the server at %s does not speak %s", url, protocol.JSONSubprotocol)
	}
	wc.SetReadLimit(int64(4*o.MaxFrame + protocol.HeaderSize))
	return start(ctx, tr, ticket, opts)
}

func options(opts []Options) Options {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.ClientVersion == "" {
		o.ClientVersion = protocol.Version
	}
	if o.MaxFrame == 0 {
		o.MaxFrame = protocol.DefaultMaxFrame
	}
	if o.EventBuffer == 0 {
		o.EventBuffer = 1024
	}
	return o
}

func start(ctx context.Context, tr transport, ticket string, opts []Options) (*Conn, error) {
	o := options(opts)
	c := &Conn{tr: tr, opts: o, pending: map[uint32]chan *pb.Envelope{}, done: make(chan struct{})}
	if o.OnEvent == nil {
		c.events = make(chan *pb.Envelope, o.EventBuffer)
	}
	go c.readLoop()
	ans, err := c.Request(ctx, &pb.Envelope{Msg: &pb.Envelope_Hello{Hello: &pb.Hello{Ticket: ticket, ClientVersion: o.ClientVersion}}})
	if err != nil {
		c.Close()
		return nil, err
	}
	w := ans.GetWelcome()
	if w == nil {
		c.Close()
		return nil, fmt.Errorf("gamehall: expected Welcome, got %T", ans.Msg)
	}
	c.Welcome = w
	if !o.NoKeepAlive && w.PingIntervalMs > 0 {
		go c.keepAlive(time.Duration(w.PingIntervalMs) * time.Millisecond)
	}
	return c, nil
}

// keepAlive pings until the connection ends; the Pongs (seq 0) are dropped
// by readLoop.
func (c *Conn) keepAlive(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if c.Send(&pb.Envelope{Msg: &pb.Envelope_Ping{Ping: &pb.Ping{}}}) != nil {
				return
			}
		}
	}
}

// Events delivers the server's pushes in order (room events, game events,
// chat, Kicked, and on resume RoomState/TableState). It is closed when the
// connection ends. Nil when Options.OnEvent is set.
func (c *Conn) Events() <-chan *pb.Envelope { return c.events }

// Done is closed when the connection ends.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended: ErrClosed after Close, a *KickedError
// when the server said why, else the transport's error (see Resumable,
// ShardGone).
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close ends the connection.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	return nil
}

func (c *Conn) fail(err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
		c.tr.close()
	})
}

func (c *Conn) readLoop() {
	defer func() {
		if c.events != nil {
			close(c.events)
		}
	}()
	for {
		p, err := c.tr.read(c.opts.MaxFrame)
		if err != nil {
			c.mu.Lock()
			k := c.kicked
			c.mu.Unlock()
			if k != nil {
				err = &KickedError{Code: k.Code, Reason: k.Reason}
			}
			c.fail(err)
			return
		}
		env, err := protocol.DecodeEnvelope(p)
		if err != nil {
			c.fail(err)
			return
		}
		if env.Seq != 0 {
			c.mu.Lock()
			ch := c.pending[env.Seq]
			delete(c.pending, env.Seq)
			c.mu.Unlock()
			if ch != nil {
				ch <- env
				continue
			}
		}
		if env.Seq == 0 && env.GetPong() != nil {
			continue // a keep-alive's answer
		}
		if k := env.GetKicked(); k != nil {
			c.mu.Lock()
			c.kicked = k
			c.mu.Unlock()
		}
		if c.opts.OnEvent != nil {
			c.opts.OnEvent(env)
			continue
		}
		select {
		case c.events <- env:
		case <-c.done:
			return
		}
	}
}

// Send writes a message without waiting for an answer (seq 0).
func (c *Conn) Send(env *pb.Envelope) error {
	b, err := protocol.Marshal(env)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	if err := c.tr.write(b); err != nil {
		c.fail(err)
		return err
	}
	return nil
}

// Request sends env with a fresh seq and waits for the answer. An Error
// answer is returned as *Error.
func (c *Conn) Request(ctx context.Context, env *pb.Envelope) (*pb.Envelope, error) {
	ch := make(chan *pb.Envelope, 1)
	c.mu.Lock()
	c.seq++
	if c.seq == 0 {
		c.seq = 1
	}
	seq := c.seq
	c.pending[seq] = ch
	c.mu.Unlock()
	env.Seq = seq
	if err := c.Send(env); err != nil {
		c.forget(seq)
		return nil, err
	}
	answer := func(ans *pb.Envelope) (*pb.Envelope, error) {
		if e := ans.GetError(); e != nil {
			return ans, &Error{Code: e.Code, Message: e.Message, Rooms: e.Rooms}
		}
		return ans, nil
	}
	select {
	case ans := <-ch:
		return answer(ans)
	case <-c.done:
		select {
		case ans := <-ch: // answered before the server closed (e.g. a Kicked after it)
			return answer(ans)
		default:
		}
		c.forget(seq)
		if err := c.Err(); err != nil && !errors.Is(err, ErrClosed) {
			return nil, fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return nil, ErrClosed
	case <-ctx.Done():
		c.forget(seq)
		return nil, ctx.Err()
	}
}

func (c *Conn) forget(seq uint32) {
	c.mu.Lock()
	delete(c.pending, seq)
	c.mu.Unlock()
}

// EnterRoom enters a room of the shard.
func (c *Conn) EnterRoom(ctx context.Context, room int) (*pb.RoomState, error) {
	ans, err := c.Request(ctx, &pb.Envelope{Msg: &pb.Envelope_EnterRoom{EnterRoom: &pb.EnterRoom{Room: int32(room)}}})
	if err != nil {
		return nil, err
	}
	return ans.GetRoomState(), nil
}

// LeaveRoom leaves the room (during a game: an escape).
func (c *Conn) LeaveRoom(ctx context.Context) error {
	_, err := c.Request(ctx, &pb.Envelope{Msg: &pb.Envelope_LeaveRoom{LeaveRoom: &pb.LeaveRoom{}}})
	return err
}

// SitDown takes a seat (0..2) at a table (0-based).
func (c *Conn) SitDown(ctx context.Context, table, seat int) (*pb.TableState, error) {
	ans, err := c.Request(ctx, &pb.Envelope{Msg: &pb.Envelope_SitDown{SitDown: &pb.SitDown{Table: int32(table), Seat: int32(seat)}}})
	if err != nil {
		return nil, err
	}
	return ans.GetTableState(), nil
}

// QuickSeat takes a free seat at a table about to start.
func (c *Conn) QuickSeat(ctx context.Context) (*pb.TableState, error) {
	ans, err := c.Request(ctx, &pb.Envelope{Msg: &pb.Envelope_QuickSeat{QuickSeat: &pb.QuickSeat{}}})
	if err != nil {
		return nil, err
	}
	return ans.GetTableState(), nil
}

// GetTable returns the full state of the player's table.
func (c *Conn) GetTable(ctx context.Context) (*pb.TableState, error) {
	ans, err := c.Request(ctx, &pb.Envelope{Msg: &pb.Envelope_GetTable{GetTable: &pb.GetTable{}}})
	if err != nil {
		return nil, err
	}
	return ans.GetTableState(), nil
}

// StandUp leaves the seat (not during a game).
func (c *Conn) StandUp(ctx context.Context) error {
	_, err := c.Request(ctx, &pb.Envelope{Msg: &pb.Envelope_StandUp{StandUp: &pb.StandUp{}}})
	return err
}

// Ready says the player wants to start; the game starts when all three are.
func (c *Conn) Ready(ctx context.Context) error {
	_, err := c.Request(ctx, &pb.Envelope{Msg: &pb.Envelope_Ready{Ready: &pb.Ready{}}})
	return err
}

// Bid bids 1..3, or 0 to pass.
func (c *Conn) Bid(ctx context.Context, bid int) error {
	_, err := c.Request(ctx, &pb.Envelope{Msg: &pb.Envelope_Bid{Bid: &pb.Bid{Bid: int32(bid)}}})
	return err
}

// Play plays cards (card numbers as in game/doudizhu); none passes.
func (c *Conn) Play(ctx context.Context, cards []byte) error {
	_, err := c.Request(ctx, &pb.Envelope{Msg: &pb.Envelope_Play{Play: &pb.Play{Cards: cards}}})
	return err
}

// Chat says text to the table or the room.
func (c *Conn) Chat(ctx context.Context, scope pb.ChatScope, text string) error {
	_, err := c.Request(ctx, &pb.Envelope{Msg: &pb.Envelope_Chat{Chat: &pb.Chat{Scope: scope, Text: text}}})
	return err
}

// Ping measures a round trip (and keeps the connection alive).
func (c *Conn) Ping(ctx context.Context) (time.Duration, error) {
	t0 := time.Now()
	_, err := c.Request(ctx, &pb.Envelope{Msg: &pb.Envelope_Ping{Ping: &pb.Ping{ClientTimeUnixNano: t0.UnixNano()}}})
	return time.Since(t0), err
}

type tcpTransport struct {
	c net.Conn
}

func (t *tcpTransport) read(max int) ([]byte, error) { return protocol.ReadFrame(t.c, max) }
func (t *tcpTransport) write(b []byte) error {
	_, err := t.c.Write(b)
	return err
}
func (t *tcpTransport) close() error { return t.c.Close() }

type wsTransport struct {
	c    *websocket.Conn
	json bool
}

func (t *wsTransport) read(max int) ([]byte, error) {
	typ, b, err := t.c.Read(context.Background())
	if err != nil {
		return nil, err
	}
	if t.json {
		return protocol.PayloadFromJSON(b, 4*max)
	}
	if typ != websocket.MessageBinary {
		return nil, fmt.Errorf("%w: text WebSocket message", protocol.ErrBadMessage)
	}
	return protocol.SplitFrame(b, max)
}

func (t *wsTransport) write(b []byte) error {
	if t.json {
		j, err := protocol.FrameToJSON(b)
		if err != nil {
			return err
		}
		return t.c.Write(context.Background(), websocket.MessageText, j)
	}
	return t.c.Write(context.Background(), websocket.MessageBinary, b)
}

func (t *wsTransport) close() error { return t.c.CloseNow() }
