package gameserver_test

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/protocol"
	"github.com/gamehall/gamehall/protocol/pb"
	"github.com/gamehall/gamehall/ticket"
)

func TestHelloErrors(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1}, nil, nil)
	good, _ := e.ticketFor("alice")
	expired, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"sub": "alice", "sid": "s1", "aud": "player", "exp": time.Now().Add(-time.Hour).Unix(),
	}).SignedString(testKey)
	if err != nil {
		t.Fatal(err)
	}
	expiredTok := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
			"sub": "alice", "sid": "s1", "aud": "player", "exp": time.Now().Add(-time.Hour).Unix(),
		})
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(testKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	forged := good[:len(good)-4] + "AAAA"
	otherKeys, err := ticket.NewRandomKeyring("k1")
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, _ := otherKeys.Sign(ticket.Player("alice", "s1"), time.Hour)
	svc := e.serviceTicket()
	tests := []struct {
		name    string
		first   *pb.Envelope
		want    pb.ErrorCode
		version string
	}{
		{"expired", hello(expiredTok, ""), pb.ErrorCode_TICKET_EXPIRED, ""},
		{"forged signature", hello(forged, ""), pb.ErrorCode_TICKET_INVALID, ""},
		{"signed by another key", hello(wrongKey, ""), pb.ErrorCode_TICKET_INVALID, ""},
		{"no kid", hello(expired, ""), pb.ErrorCode_TICKET_INVALID, ""},
		{"garbage", hello("not-a-ticket", ""), pb.ErrorCode_TICKET_INVALID, ""},
		{"empty", hello("", ""), pb.ErrorCode_TICKET_INVALID, ""},
		{"service ticket", hello(svc, ""), pb.ErrorCode_TICKET_INVALID, ""},
		{"old client", hello(good, "gamehall/0.9"), pb.ErrorCode_UNSUPPORTED_VERSION, ""},
		{"no hello", &pb.Envelope{Seq: 1, Msg: &pb.Envelope_EnterRoom{EnterRoom: &pb.EnterRoom{Room: 1}}}, pb.ErrorCode_NOT_AUTHENTICATED, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nc := rawDial(t, e)
			if err := protocol.WriteFrame(nc, tc.first); err != nil {
				t.Fatal(err)
			}
			env := readEnv(t, nc)
			if env.GetError().GetCode() != tc.want || env.Seq != 1 {
				t.Fatalf("got %v, want %s", env, tc.want)
			}
			// The server closes after refusing.
			if _, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrame); err == nil {
				t.Fatal("connection still open after a refused Hello")
			}
		})
	}
	// And the good ticket still works.
	c, err := client.Dial(ctx20(t), e.addr(), good)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func hello(tok, version string) *pb.Envelope {
	if version == "" {
		version = protocol.Version
	}
	return &pb.Envelope{Seq: 1, Msg: &pb.Envelope_Hello{Hello: &pb.Hello{Ticket: tok, ClientVersion: version}}}
}

func rawDial(t *testing.T, e *env) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", e.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	return nc
}

func readEnv(t *testing.T, r io.Reader) *pb.Envelope {
	t.Helper()
	p, err := protocol.ReadFrame(r, protocol.DefaultMaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	env, err := protocol.DecodeEnvelope(p)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestBadFrames(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1, MaxFrame: 4096}, nil, nil)
	t.Run("too large", func(t *testing.T) {
		nc := rawDial(t, e)
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], 5000)
		nc.Write(hdr[:])
		env := readEnv(t, nc)
		if env.GetError().GetCode() != pb.ErrorCode_FRAME_TOO_LARGE {
			t.Fatalf("got %v", env)
		}
		if _, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrame); err == nil {
			t.Fatal("connection still open")
		}
	})
	t.Run("garbage payload before Hello closes", func(t *testing.T) {
		nc := rawDial(t, e)
		nc.Write([]byte{0, 0, 0, 3, 0xff, 0xff, 0xff})
		env := readEnv(t, nc)
		if env.GetError().GetCode() != pb.ErrorCode_BAD_REQUEST {
			t.Fatalf("got %v", env)
		}
		if _, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrame); err == nil {
			t.Fatal("connection still open after junk before Hello")
		}
	})
	t.Run("garbage payload after Hello keeps the connection", func(t *testing.T) {
		nc := rawDial(t, e)
		tok, _ := e.ticketFor("bob")
		protocol.WriteFrame(nc, hello(tok, ""))
		if w := readEnv(t, nc).GetWelcome(); w == nil || w.Account != "bob" {
			t.Fatalf("no welcome")
		}
		nc.Write([]byte{0, 0, 0, 3, 0xff, 0xff, 0xff})
		if env := readEnv(t, nc); env.GetError().GetCode() != pb.ErrorCode_BAD_REQUEST {
			t.Fatalf("got %v", env)
		}
		protocol.WriteFrame(nc, &pb.Envelope{Seq: 2, Msg: &pb.Envelope_Ping{Ping: &pb.Ping{}}})
		if env := readEnv(t, nc); env.GetPong() == nil || env.Seq != 2 {
			t.Fatalf("no pong after a bad frame: %v", env)
		}
	})
}

func TestChatLimits(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1, ChatMaxRunes: 10, ChatBurst: 2, ChatRate: 0.001}, nil, nil)
	ctx := ctx20(t)
	a, b := e.dial("a"), e.dial("b")
	for _, c := range []*client.Conn{a, b} {
		if _, err := c.EnterRoom(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, a.Chat(ctx, pb.ChatScope_ROOM, strings.Repeat("字", 11)), pb.ErrorCode_CHAT_TOO_LONG)
	wantCode(t, a.Chat(ctx, pb.ChatScope_TABLE, "hi"), pb.ErrorCode_NOT_SEATED)
	wantCode(t, a.Chat(ctx, pb.ChatScope_CHAT_SCOPE_UNSPECIFIED, "hi"), pb.ErrorCode_BAD_REQUEST)
	if err := a.Chat(ctx, pb.ChatScope_ROOM, strings.Repeat("字", 10)); err != nil {
		t.Fatal(err)
	}
	m := waitEvent(t, b, "room chat", func(env *pb.Envelope) bool { return env.GetChatMessage() != nil }).GetChatMessage()
	if m.Account != "a" || m.Room != 1 || m.Scope != pb.ChatScope_ROOM {
		t.Fatalf("chat %v", m)
	}
	// The burst of 2 was: the NOT_SEATED table chat and the one above.
	wantCode(t, a.Chat(ctx, pb.ChatScope_ROOM, "again"), pb.ErrorCode_RATE_LIMITED)
	// b is unaffected by a's limit.
	if err := b.Chat(ctx, pb.ChatScope_ROOM, "hello"); err != nil {
		t.Fatal(err)
	}
}

func TestMessageRateLimit(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1, MsgRate: 0.001, MsgBurst: 3}, nil, nil)
	c := e.dial("a") // Hello took one token
	ctx := ctx20(t)
	for i := 0; i < 2; i++ {
		if _, err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Ping(ctx)
	wantCode(t, err, pb.ErrorCode_RATE_LIMITED)
}

func TestOccupancyStream(t *testing.T) {
	e := startShard(t, gameserver.Config{FirstRoom: 51, Rooms: 3, RoomCapacity: 10, TablesPerRoom: 1}, nil, nil)
	ctx := ctx20(t)
	if _, err := client.DialOccupancy(ctx, e.internalURL(), "bad"); err == nil {
		t.Fatal("a bad ticket was accepted")
	}
	tok, _ := e.ticketFor("player")
	if _, err := client.DialOccupancy(ctx, e.internalURL(), tok); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("a player ticket: %v", err)
	}
	oc, err := client.DialOccupancy(ctx, e.internalURL(), e.serviceTicket())
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	snap, err := oc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Snapshot || snap.Epoch != e.srv.Epoch() || snap.Shard != "test-0" || len(snap.Rooms) != 3 ||
		snap.Rooms[0] != (client.RoomCount{Room: 51, Players: 0, Capacity: 10}) {
		t.Fatalf("snapshot %+v", snap)
	}
	a, b := e.dial("a"), e.dial("b")
	a.EnterRoom(ctx, 52)
	b.EnterRoom(ctx, 52)
	counts := map[int]int{}
	for counts[52] != 2 {
		u, err := oc.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if u.Snapshot || u.Version <= snap.Version {
			t.Fatalf("delta %+v", u)
		}
		for _, r := range u.Rooms {
			counts[r.Room] = r.Players
		}
	}
	if _, ok := counts[51]; ok {
		t.Fatalf("unchanged room 51 was in a delta: %v", counts)
	}
	a.LeaveRoom(ctx)
	e.srv.Drain()
	for {
		u, err := oc.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range u.Rooms {
			counts[r.Room] = r.Players
		}
		if u.Draining && counts[52] == 1 {
			break
		}
	}
}

func TestDrain(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 2, RoomCapacity: 10, TablesPerRoom: 1, TurnTimeout: time.Hour}, nil, nil)
	cs := seatThree(t, e, "a", "b", "c")
	ctx := ctx20(t)
	for _, c := range cs {
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitEvent(t, cs[0], "deal", func(env *pb.Envelope) bool { return env.GetGameEvent().GetKind() == pb.GameEventKind_DEAL })
	// The operator's drain call on the internal port needs a service ticket.
	req := func(tok string) int {
		r, _ := newRequest("POST", e.internalURL()+"/v1/drain", tok)
		resp, err := httpClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := req("nope"); code != 401 {
		t.Fatalf("drain without a ticket: %d", code)
	}
	// ... that names the drain: a player's or a reader's is refused.
	player, _ := e.ticketFor("p")
	for _, tok := range []string{player, e.serviceTicket(ticket.AudShardRead)} {
		if code := req(tok); code != 403 {
			t.Fatalf("drain with a ticket for something else: %d, want 403", code)
		}
	}
	if code := req(e.serviceTicket(ticket.AudShardDrain)); code != 200 {
		t.Fatalf("drain: %d", code)
	}
	d := e.dial("d")
	wantCode(t, func() error { _, err := d.EnterRoom(ctx, 2); return err }(), pb.ErrorCode_DRAINING)
	// The game goes on; the shard only stops when everyone left.
	if _, err := cs[0].Ping(ctx); err != nil {
		t.Fatalf("a player was dropped by the drain: %v", err)
	}
	select {
	case <-e.done:
		t.Fatal("Run returned with players in a game")
	default:
	}
	for _, c := range cs {
		c.LeaveRoom(ctx)
	}
	select {
	case err := <-e.done:
		if err != nil {
			t.Fatal(err)
		}
		e.stopOnce.Do(func() {})
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return once empty")
	}
}

// One room per account per game across shards, and a newer login kicks the
// older connection.
func TestPresenceRules(t *testing.T) {
	pres := presence.NewMemory()
	defer pres.Close()
	keys := newKeys(t)
	s1 := startShard(t, gameserver.Config{Shard: "s1", FirstRoom: 1, Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1}, pres, keys)
	s2 := startShard(t, gameserver.Config{Shard: "s2", FirstRoom: 2, Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1}, pres, keys)
	s2.sessions.Store(1000) // distinct session ids from s1's helper
	ctx := ctx20(t)
	a1 := s1.dial("alice")
	if _, err := a1.EnterRoom(ctx, 1); err != nil {
		t.Fatal(err)
	}
	tok, _ := s1.ticketFor("alice") // a newer login for alice...
	kicked := waitEvent(t, a1, "kick", func(env *pb.Envelope) bool { return env.GetKicked() != nil }).GetKicked()
	if kicked.Reason != presence.KickReason {
		t.Fatalf("kick reason %q", kicked.Reason)
	}
	<-a1.Done()
	// ...who tries a room on the other shard while the first still holds her
	// (she was not in a game, so the room was released at the kick).
	a2, err := client.Dial(ctx, s2.addr(), tok)
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	eventually(t, "alice released on s1", func() bool { return s1.srv.Stats().Players == 0 })
	if _, err := a2.EnterRoom(ctx, 2); err != nil {
		t.Fatal(err)
	}
	// Now alice (same session) tries s1's room: refused, she is in room 2.
	a3, err := client.Dial(ctx, s1.addr(), tok)
	if err != nil {
		t.Fatal(err)
	}
	defer a3.Close()
	_, err = a3.EnterRoom(ctx, 1)
	wantCode(t, err, pb.ErrorCode_IN_OTHER_ROOM)
	// An old session's ticket cannot enter a room.
	oldTok, err := keys.Sign(ticket.Player("alice", "s1"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a4, err := client.Dial(ctx, s1.addr(), oldTok)
	if err != nil {
		t.Fatal(err)
	}
	k := waitEvent(t, a4, "the old session kicked", func(env *pb.Envelope) bool { return env.GetKicked() != nil }).GetKicked()
	if k.Code != pb.KickCode_KICK_SUPERSEDED {
		t.Fatalf("old session's connection: %v", k)
	}
}

func TestWebSocket(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1}, nil, nil)
	ctx := ctx20(t)
	tok, _ := e.ticketFor("web")
	w, err := client.DialWebSocket(ctx, "ws://"+e.addr()+"/ws", tok)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Welcome.Account != "web" {
		t.Fatalf("welcome %v", w.Welcome)
	}
	st, err := w.EnterRoom(ctx, 1)
	if err != nil || st.Players != 1 {
		t.Fatalf("enter over WebSocket: %v %v", st, err)
	}
	// A TCP player and the WebSocket player share the room.
	tc := e.dial("tcp")
	if _, err := tc.EnterRoom(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := tc.Chat(ctx, pb.ChatScope_ROOM, "hi web"); err != nil {
		t.Fatal(err)
	}
	m := waitEvent(t, w, "chat over WebSocket", func(env *pb.Envelope) bool { return env.GetChatMessage() != nil })
	if m.GetChatMessage().Text != "hi web" {
		t.Fatalf("chat %v", m)
	}
}

// The client's keep-alive pings hold an idle connection open past the read
// deadline; a client that stays silent is dropped.
func TestKeepAlive(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1, PingInterval: 50 * time.Millisecond}, nil, nil)
	ctx := ctx20(t)
	tokA, _ := e.ticketFor("alive")
	alive, err := client.Dial(ctx, e.addr(), tokA)
	if err != nil {
		t.Fatal(err)
	}
	defer alive.Close()
	tokS, _ := e.ticketFor("silent")
	silent, err := client.Dial(ctx, e.addr(), tokS, client.Options{NoKeepAlive: true})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-silent.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("a silent client was not dropped")
	}
	if _, err := alive.Ping(ctx); err != nil {
		t.Fatalf("the pinging client was dropped: %v", err)
	}
}

// A client that never reads is disconnected; the room keeps working.
func TestSlowClientIsDisconnected(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1, WriteQueue: 8,
		WriteTimeout: 500 * time.Millisecond}, nil, nil)
	ctx := ctx20(t)
	nc := rawDial(t, e)
	nc.(*net.TCPConn).SetReadBuffer(1024)
	tok, _ := e.ticketFor("slow")
	protocol.WriteFrame(nc, hello(tok, ""))
	readEnv(t, nc)
	protocol.WriteFrame(nc, &pb.Envelope{Seq: 2, Msg: &pb.Envelope_EnterRoom{EnterRoom: &pb.EnterRoom{Room: 1}}})
	readEnv(t, nc)
	fast := e.dial("fast")
	if _, err := fast.EnterRoom(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Flood the slow client with answers it never reads.
	ping := protocol.MustMarshal(&pb.Envelope{Msg: &pb.Envelope_GetTable{GetTable: &pb.GetTable{}}})
	go func() {
		for i := 0; i < 200000; i++ {
			if _, err := nc.Write(ping); err != nil {
				return
			}
		}
	}()
	eventually(t, "slow client removed", func() bool { return e.srv.Stats().Players == 1 })
	if _, err := fast.Ping(ctx); err != nil {
		t.Fatalf("the room's other player suffered: %v", err)
	}
}
