package hall_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/internal/httpserver"
	"github.com/gamehall/gamehall/internal/tlsfiles"
	"github.com/gamehall/gamehall/internal/tlsfiles/tlstest"
	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/presence"
)

// One account holds at most MaxWatchersPerAccount streams on a replica:
// the next is refused with a code saying why, and closing one frees a place.
func TestWatchersPerAccountCapped(t *testing.T) {
	keys := newKeys(t)
	pres := presence.NewMemory()
	defer pres.Close()
	e := startHall(t, hall.Config{MaxWatchersPerAccount: 2, PingInterval: 100 * time.Millisecond}, keys, pres, nil)
	e.source.Set(ddz, nil)
	tok := e.player("greedy")
	first := e.watchAs("ddz-1", "", tok)
	first.until("snapshot", func(map[int]hall.Room) bool { return true })
	e.watchAs("ddz-1", "?page=1", tok).until("snapshot", func(map[int]hall.Room) bool { return true })

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	dial := func() (*websocket.Conn, *http.Response, error) {
		return websocket.Dial(ctx, "ws"+e.url[len("http"):]+"/v1/regions/ddz-1/watch", &websocket.DialOptions{
			HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
	}
	_, resp, err := dial()
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third stream of one account: %v %v", resp, err)
	}
	var body login.ErrorBody
	json.NewDecoder(resp.Body).Decode(&body)
	if body.Error.Code != hall.CodeTooManyWatchers || body.Error.Message == "" {
		t.Fatalf("refusal: %+v", body.Error)
	}
	// Another account is not affected.
	e.watch("ddz-1", "").until("snapshot", func(map[int]hall.Room) bool { return true })
	first.c.Close(websocket.StatusNormalClosure, "")
	eventually(t, "a place to free up", func() bool {
		c, _, err := dial()
		if err == nil {
			c.CloseNow()
		}
		return err == nil
	})
}

// A watch stream outlives the HTTP server's read and write timeouts (the
// hijacked connection's deadlines are cleared): served with timeouts of
// 300 ms, it still answers pings after four times that.
func TestWatchOutlivesServerTimeouts(t *testing.T) {
	keys := newKeys(t)
	pres := presence.NewMemory()
	defer pres.Close()
	short := func(ts *httptest.Server) {
		s := ts.Config
		*s = *httpserver.New(s.Handler)
		s.ReadTimeout, s.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	}
	e := startHallServer(t, hall.Config{PingInterval: 100 * time.Millisecond}, keys, pres, nil, short)
	e.source.Set(ddz, nil)
	w := e.watch("ddz-1", "")
	w.until("snapshot", func(map[int]hall.Room) bool { return true })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for end := time.Now().Add(1200 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if err := w.c.Ping(ctx); err != nil {
			t.Fatalf("ping past the server's timeouts: %v", err)
		}
	}
}

// Tickets never travel in URLs: one in the query is refused with a message
// saying where it goes; a browser's watch sends it as a subprotocol, and the
// hall answers with the stream's own, never echoing the ticket.
func TestTicketsNotInURLs(t *testing.T) {
	keys := newKeys(t)
	pres := presence.NewMemory()
	defer pres.Close()
	e := startHall(t, hall.Config{}, keys, pres, nil)
	e.source.Set(ddz, nil)
	tok := e.player("browser")
	for _, path := range []string{"/v1/regions?ticket=" + tok, "/v1/regions/ddz-1/watch?ticket=" + tok} {
		resp := e.get(path, "")
		var body login.ErrorBody
		json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode != http.StatusUnauthorized || body.Error.Code != login.CodeTicketMissing || !strings.Contains(body.Error.Message, "not accepted in URLs") {
			t.Fatalf("%s: %d %+v", path, resp.StatusCode, body.Error)
		}
	}
	// Behind a proxy that keeps Authorization (the Kubernetes API server's
	// service proxy): the ticket header.
	req, _ := http.NewRequest(http.MethodGet, e.url+"/v1/regions", nil)
	req.Header.Set(login.TicketHeader, tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ticket in %s: %d", login.TicketHeader, resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var c *websocket.Conn
	eventually(t, "a watch with the ticket in its subprotocol", func() bool {
		var err error
		c, _, err = websocket.Dial(ctx, "ws"+e.url[len("http"):]+"/v1/regions/ddz-1/watch?page=1", &websocket.DialOptions{
			Subprotocols: []string{hall.WatchProtocol, login.TicketProtocolPrefix + tok}})
		return err == nil
	})
	defer c.CloseNow()
	if c.Subprotocol() != hall.WatchProtocol {
		t.Fatalf("subprotocol %q, want %q", c.Subprotocol(), hall.WatchProtocol)
	}
	if _, b, err := c.Read(ctx); err != nil || !strings.Contains(string(b), `"snapshot"`) {
		t.Fatalf("first message: %s %v", b, err)
	}
}

// A redirect's Location keeps the query but never a ticket.
func TestRedirectLocationCarriesNoTicket(t *testing.T) {
	keys := newKeys(t)
	pres := presence.NewMemory()
	defer pres.Close()
	cfg := func(name string, max int) hall.Config {
		return hall.Config{Name: name, MaxClients: max, AdvertiseEvery: 100 * time.Millisecond}
	}
	full := startHall(t, cfg("hall-full", 1), keys, pres, nil)
	peer := startHall(t, cfg("hall-peer", 10), keys, pres, nil)
	full.source.Set(ddz, nil)
	peer.source.Set(ddz, nil)
	full.watch("ddz-1", "").until("snapshot", func(map[int]hall.Room) bool { return true })
	tok := full.player("p")
	eventually(t, "a redirect without the ticket", func() bool {
		resp := full.get("/v1/regions/ddz-1/rooms?ticket="+tok+"&page=2", tok)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusTemporaryRedirect {
			return false
		}
		if strings.Contains(loc, "ticket") || loc != peer.url+"/v1/regions/ddz-1/rooms?page=2" {
			t.Fatalf("Location %q", loc)
		}
		return true
	})
}

// With a certificate the hall serves HTTPS and wss on one port: the watch
// stream over TLS gets its snapshot, deltas as rooms change, pings
// answered, and the close frame when the hall stops.
func TestHallOverTLS(t *testing.T) {
	keys := newKeys(t)
	pres := presence.NewMemory()
	defer pres.Close()
	pair := tlstest.Write(t, t.TempDir())
	cfg, err := tlsfiles.Config(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	e := startHallServer(t, hall.Config{PingInterval: 100 * time.Millisecond}, keys, pres, nil, func(ts *httptest.Server) {
		ts.Listener = tls.NewListener(ts.Listener, cfg)
	})
	base := "https" + strings.TrimPrefix(e.url, "http")
	sh := startShard(t, gameserver.Config{Shard: "ddz-1-0", Rooms: 2, RoomCapacity: 10, TablesPerRoom: 2}, keys, pres)
	e.source.Set(ddz, []hall.ShardInfo{sh.info("ddz-1")})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: pair.ClientConfig()}}
	tok := e.player("tls")
	eventually(t, "GET /v1/regions over HTTPS", func() bool {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/regions", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(base, "https")+"/v1/regions/ddz-1/watch", &websocket.DialOptions{
		HTTPClient: client, Subprotocols: []string{hall.WatchProtocol, login.TicketProtocolPrefix + tok}})
	if err != nil {
		t.Fatalf("wss watch: %v", err)
	}
	defer c.CloseNow()
	w := &watcher{t: t, c: c, msgs: make(chan hall.WatchMessage, 1024), errc: make(chan error, 1), view: map[int]hall.Room{}}
	go w.read()
	w.until("the shard's rooms", func(v map[int]hall.Room) bool { return len(v) == 2 })
	seat(t, e, sh, "sitter", 1)
	w.until("a player in room 1 (a delta over TLS)", func(v map[int]hall.Room) bool { return v[1].Players == 1 })
	if err := c.Ping(ctx); err != nil { // read by the hall's ping pass
		t.Fatalf("ping over TLS: %v", err)
	}
	e.stop()
	if err := w.closed(); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("hall stopped: %v", err)
	}
}
