package gameserver_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/protocol"
	"github.com/gamehall/gamehall/protocol/pb"
)

// preAuthShard's Hello bound is short so that the tests below end soon; the
// junk comes faster than the bound, so a server that resets its deadline on
// each frame keeps the socket open for as long as the junk comes.
func preAuthShard(t *testing.T) *env {
	return startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1, HelloTimeout: 3 * time.Second}, nil, nil)
}

const junkEvery = time.Second

// keepSending writes junk every junkEvery until the socket fails or the
// test ends; the server may close at any write.
func keepSending(t *testing.T, send func() error) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		tick := time.NewTicker(junkEvery)
		defer tick.Stop()
		for {
			if send() != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
}

// A socket that sends junk every second, never a Hello, is closed: the first
// junk is answered BAD_REQUEST (saying why) and then the socket goes. Before
// the fix each junk frame was answered and the read deadline reset, so the
// socket stayed for as long as the junk came (the 20 s client deadline here).
func TestPreAuthJunkClosesTCP(t *testing.T) {
	e := preAuthShard(t)
	nc := rawDial(t, e) // 20 s client-side deadline: the test's bound, not a margin on the server's
	keepSending(t, func() error {
		_, err := nc.Write([]byte{0, 0, 0, 3, 0xff, 0xff, 0xff})
		return err
	})
	answered := false
	for {
		p, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrame)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("socket sending junk without Hello still open after 20 s (answered: %v)", answered)
			}
			break // closed by the server
		}
		env, derr := protocol.DecodeEnvelope(p)
		if derr != nil || env.GetError().GetCode() != pb.ErrorCode_BAD_REQUEST {
			t.Fatalf("answer to junk: %v %v", env, derr)
		}
		answered = true
	}
	if !answered {
		t.Fatal("closed without saying why")
	}
}

func TestPreAuthJunkClosesWebSocket(t *testing.T) {
	e := preAuthShard(t)
	for _, tc := range []struct {
		name string
		subp []string
		typ  websocket.MessageType
		junk string
	}{
		{"json", []string{protocol.JSONSubprotocol}, websocket.MessageText, `{"hello":`},
		{"json wrong type", []string{protocol.JSONSubprotocol}, websocket.MessageBinary, "\x00\x00\x00\x01\x00"},
		{"binary", nil, websocket.MessageBinary, "\x00\x00\x00\x03\xff\xff\xff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctx20(t)
			wc, _, err := websocket.Dial(ctx, "ws://"+e.addr()+"/ws", &websocket.DialOptions{Subprotocols: tc.subp})
			if err != nil {
				t.Fatal(err)
			}
			defer wc.CloseNow()
			keepSending(t, func() error { return wc.Write(ctx, tc.typ, []byte(tc.junk)) })
			answered := false
			for {
				_, b, err := wc.Read(ctx)
				if err != nil {
					if ctx.Err() != nil {
						t.Fatalf("WebSocket sending junk without Hello still open after 20 s (answered: %v)", answered)
					}
					break
				}
				if !strings.Contains(string(b), "BAD_REQUEST") && !bytesHaveCode(b, pb.ErrorCode_BAD_REQUEST) {
					t.Fatalf("answer to junk: %q", b)
				}
				answered = true
			}
			if !answered {
				t.Fatal("closed without saying why")
			}
		})
	}
}

func bytesHaveCode(frame []byte, code pb.ErrorCode) bool {
	p, err := protocol.SplitFrame(frame, protocol.DefaultMaxFrame)
	if err != nil {
		return false
	}
	env, err := protocol.DecodeEnvelope(p)
	return err == nil && env.GetError().GetCode() == code
}

// The bound runs from accept, whatever the socket does meanwhile: a
// WebSocket that upgrades and then only pings, and a socket that trickles
// its HTTP request one byte at a time, are both closed.
func TestPreAuthBoundFromAccept(t *testing.T) {
	e := preAuthShard(t)
	t.Run("upgraded, pinging", func(t *testing.T) {
		ctx := ctx20(t)
		wc, _, err := websocket.Dial(ctx, "ws://"+e.addr()+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer wc.CloseNow()
		read := make(chan error, 1)
		go func() {
			_, _, err := wc.Read(ctx)
			read <- err
		}()
		keepSending(t, func() error { return wc.Ping(ctx) })
		if err := <-read; ctx.Err() != nil {
			t.Fatalf("pinging WebSocket without Hello still open after 20 s: %v", err)
		}
	})
	t.Run("trickled request", func(t *testing.T) {
		nc := rawDial(t, e)
		req := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Pad: " + strings.Repeat("a", 100)
		go func() {
			for i := range len(req) {
				if _, err := nc.Write([]byte{req[i]}); err != nil {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
		var b [1]byte
		_, err := nc.Read(b[:])
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("trickling socket still open after 20 s")
		}
	})
}

// A welcomed WebSocket outlives the upgrade server's read and write
// timeouts (the Hello bound here): the hijacked connection's deadlines are
// cleared, and conn's own take over.
func TestWebSocketOutlivesServerTimeouts(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1, HelloTimeout: time.Second, WriteTimeout: time.Second}, nil, nil)
	ctx := ctx20(t)
	tok, _ := e.ticketFor("long")
	c, err := client.DialWebSocket(ctx, "ws://"+e.addr()+"/ws", tok, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Five times the timeouts, a round trip every half second.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if _, err := c.Ping(ctx); err != nil {
			t.Fatalf("ping after the server's timeouts: %v", err)
		}
	}
}
