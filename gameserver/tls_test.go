package gameserver_test

import (
	"testing"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/internal/tlsfiles"
	"github.com/gamehall/gamehall/internal/tlsfiles/tlstest"
)

// With a certificate the players' port speaks TLS to framed TCP and
// WebSocket clients alike (one port, told apart after the handshake); a
// plain client gets nowhere.
func TestPlayersPortTLS(t *testing.T) {
	pair := tlstest.Write(t, t.TempDir())
	cfg, err := tlsfiles.Config(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1, TLS: cfg}, nil, nil)
	ctx := ctx20(t)
	opts := client.Options{TLS: pair.ClientConfig()}

	tok, _ := e.ticketFor("tcp")
	c, err := client.Dial(ctx, e.addr(), tok, opts)
	if err != nil {
		t.Fatalf("TLS over TCP: %v", err)
	}
	defer c.Close()
	if _, err := c.EnterRoom(ctx, 1); err != nil {
		t.Fatalf("enter over TLS: %v", err)
	}

	tok, _ = e.ticketFor("browser")
	jsonOpts := opts
	jsonOpts.JSON = true
	w, err := client.DialWebSocket(ctx, "wss://"+e.addr()+"/ws", tok, jsonOpts)
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	defer w.Close()
	if _, err := w.EnterRoom(ctx, 1); err != nil {
		t.Fatalf("enter over wss: %v", err)
	}

	tok, _ = e.ticketFor("plain")
	if p, err := client.Dial(ctx, e.addr(), tok); err == nil {
		p.Close()
		t.Fatal("a plain client was welcomed on the TLS port")
	}
}
