package gameserver_test

import (
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/protocol"
	"github.com/gamehall/gamehall/protocol/pb"
)

// Browsers speak the JSON subprotocol: the same session as binary frames,
// shared with TCP players.
func TestWebSocketJSON(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1}, nil, nil)
	ctx := ctx20(t)
	tok, _ := e.ticketFor("browser")
	w, err := client.DialWebSocket(ctx, "ws://"+e.addr()+"/ws", tok, client.Options{JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Welcome.Account != "browser" {
		t.Fatalf("welcome %v", w.Welcome)
	}
	if st, err := w.EnterRoom(ctx, 1); err != nil || st.Players != 1 {
		t.Fatalf("enter over JSON: %v %v", st, err)
	}
	if st, err := w.QuickSeat(ctx); err != nil || st.MySeat != 0 || st.Table != 0 {
		t.Fatalf("quick seat over JSON: %v %v", st, err)
	}
	tc := e.dial("tcp")
	if _, err := tc.EnterRoom(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := tc.Chat(ctx, pb.ChatScope_ROOM, "hi browser"); err != nil {
		t.Fatal(err)
	}
	m := waitEvent(t, w, "chat over JSON", func(env *pb.Envelope) bool { return env.GetChatMessage() != nil })
	if m.GetChatMessage().Text != "hi browser" {
		t.Fatalf("chat %v", m)
	}
}

// Malformed JSON after Hello gets BAD_REQUEST saying why, and the
// connection stays open.
func TestWebSocketJSONMalformed(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1}, nil, nil)
	ctx := ctx20(t)
	wc, _, err := websocket.Dial(ctx, "ws://"+e.addr()+"/ws", &websocket.DialOptions{Subprotocols: []string{protocol.JSONSubprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer wc.CloseNow()
	if wc.Subprotocol() != protocol.JSONSubprotocol {
		t.Fatalf("subprotocol %q", wc.Subprotocol())
	}
	roundTrip := func(typ websocket.MessageType, msg string) string {
		t.Helper()
		if err := wc.Write(ctx, typ, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		typ, b, err := wc.Read(ctx)
		if err != nil || typ != websocket.MessageText {
			t.Fatalf("answer to %q: %v %v", msg, typ, err)
		}
		if _, err := protocol.PayloadFromJSON(b, 1<<16); err != nil {
			t.Fatalf("answer %s: %v", b, err)
		}
		return string(b)
	}
	tok, _ := e.ticketFor("after")
	got := roundTrip(websocket.MessageText, `{"seq":7,"hello":{"ticket":"`+tok+`","clientVersion":"gamehall/1 web"}}`)
	if !strings.Contains(got, `"welcome"`) || !strings.Contains(got, `"seq":7`) {
		t.Fatalf("hello: %s", got)
	}
	for _, tt := range []struct {
		typ  websocket.MessageType
		msg  string
		want string
	}{
		{websocket.MessageText, `{"hello":`, "BAD_REQUEST"},
		{websocket.MessageText, `{"seq":1}`, "carries no known message"},
		{websocket.MessageText, `{"seq":1,"enterRoom":{"room":"seven"}}`, "BAD_REQUEST"},
		{websocket.MessageBinary, "\x00\x00\x00\x01\x00", "binary message on the JSON subprotocol"},
	} {
		got := roundTrip(tt.typ, tt.msg)
		if !strings.Contains(got, tt.want) {
			t.Errorf("%q: answer %s, want %q", tt.msg, got, tt.want)
		}
	}
	// Still open: a ping is answered.
	if got := roundTrip(websocket.MessageText, `{"seq":8,"ping":{}}`); !strings.Contains(got, `"pong"`) {
		t.Fatalf("ping after bad messages: %s", got)
	}
}
