package hall_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/internal/httpserver"
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
	short := func(s *http.Server) {
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
