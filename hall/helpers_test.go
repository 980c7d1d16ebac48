package hall_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/presence/storetest"
	"github.com/gamehall/gamehall/ticket"
)

const wait = 20 * time.Second

// testLog logs to stderr when GAMEHALL_TEST_LOG is set.
func testLog() logr.Logger {
	if os.Getenv("GAMEHALL_TEST_LOG") != "" {
		return logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(-4)}))
	}
	return logr.Discard()
}

// testKey1 is the tests' key "k1" (fixed: a test rotates away from it).
var testKey1 = ed25519.NewKeyFromSeed([]byte("0123456789abcdef0123456789abcdef"))

func newKeys(t testing.TB) *ticket.Keyring {
	k, err := ticket.NewKeyring(map[string]ed25519.PrivateKey{"k1": testKey1}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// shard is a real gameserver on loopback ports.
type shard struct {
	t      *testing.T
	srv    *gameserver.Server
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startShard(t *testing.T, cfg gameserver.Config, keys *ticket.Keyring, pres presence.Store) *shard {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.InternalAddr == "" {
		cfg.InternalAddr = "127.0.0.1:0"
	}
	srv, err := gameserver.New(cfg, gameserver.Deps{Verifier: keys, Presence: pres, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	// The port of a just-stopped shard may linger briefly: retry.
	deadline := time.Now().Add(wait)
	for err = srv.Listen(); err != nil; err = srv.Listen() {
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &shard{t: t, srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Run(ctx) }()
	t.Cleanup(s.stop)
	return s
}

func (s *shard) stop() {
	s.once.Do(func() {
		s.cancel()
		select {
		case <-s.done:
		case <-time.After(wait):
			s.t.Error("shard did not stop")
		}
	})
}

func (s *shard) info(region string) hall.ShardInfo {
	cfg := s.srv.Config()
	host, port, _ := net.SplitHostPort(s.srv.Addr().String())
	p, _ := strconv.Atoi(port)
	return hall.ShardInfo{
		Name: cfg.Shard, Region: region, Game: cfg.Game, Address: host, Port: p,
		InternalURL: "http://" + s.srv.InternalAddr().String(),
		FirstRoom:   cfg.FirstRoom, Rooms: cfg.Rooms, RoomCapacity: cfg.RoomCapacity, Ready: true,
	}
}

// hallEnv is a hall replica serving on a real loopback HTTP server.
type hallEnv struct {
	t      *testing.T
	h      *hall.Server
	url    string
	keys   *ticket.Keyring
	pres   presence.Store
	source *hall.StaticSource
	reg    *prometheus.Registry
	seq    atomic.Int64
	cancel context.CancelFunc
	done   chan struct{}
}

// stop ends the hall's Run and waits for it.
func (e *hallEnv) stop() {
	e.cancel()
	<-e.done
}

func startHall(t *testing.T, cfg hall.Config, keys *ticket.Keyring, pres presence.Store, source *hall.StaticSource) *hallEnv {
	t.Helper()
	return startHallServer(t, cfg, keys, pres, source, nil)
}

// startHallServer is startHall with adjust applied to the test server
// before it starts (its http.Server, its listener).
func startHallServer(t *testing.T, cfg hall.Config, keys *ticket.Keyring, pres presence.Store, source *hall.StaticSource, adjust func(*httptest.Server)) *hallEnv {
	t.Helper()
	if source == nil {
		source = hall.NewStaticSource()
	}
	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	if cfg.AdvertiseURL == "" {
		cfg.AdvertiseURL = "http://" + srv.Listener.Addr().String()
	}
	h, err := hall.New(cfg, hall.Deps{Keys: keys, Presence: pres, Source: source, Dial: hall.DialShard, Log: testLog(), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	h.Register(mux)
	if adjust != nil {
		adjust(srv)
	}
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		<-done
	})
	return &hallEnv{t: t, h: h, url: srv.URL, keys: keys, pres: pres, source: source, reg: reg, cancel: cancel, done: done}
}

// player logs an account in (presence + ticket) as login would.
func (e *hallEnv) player(account string) string {
	e.t.Helper()
	session := fmt.Sprintf("s%d", e.seq.Add(1))
	if _, err := e.pres.Login(context.Background(), account, session, time.Hour); err != nil {
		e.t.Fatal(err)
	}
	tok, err := e.keys.Sign(ticket.Player(account, session), time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// seat connects a player to a shard and enters room.
func seat(t *testing.T, e *hallEnv, s *shard, account string, room int) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Dial(ctx, s.srv.Addr().String(), e.player(account))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.EnterRoom(ctx, room); err != nil {
		t.Fatalf("%s enter room %d: %v", account, room, err)
	}
	return c
}

func (e *hallEnv) get(path, tok string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.url+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (e *hallEnv) rooms(region, tok string) hall.WatchMessage {
	e.t.Helper()
	resp := e.get("/v1/regions/"+region+"/rooms", tok)
	if resp.StatusCode != 200 {
		e.t.Fatalf("rooms: %d", resp.StatusCode)
	}
	var m hall.WatchMessage
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

// watcher is a WebSocket client of a region's watch stream that keeps a
// view of the rooms and checks that versions follow on.
type watcher struct {
	t       *testing.T
	c       *websocket.Conn
	msgs    chan hall.WatchMessage
	errc    chan error
	view    map[int]hall.Room
	epoch   string
	version uint64
	types   []string
	last    hall.WatchMessage
}

// watch opens a watch stream as a new account.
func (e *hallEnv) watch(region, query string) *watcher {
	e.t.Helper()
	return e.watchAs(region, query, e.player(fmt.Sprintf("watcher%d", e.seq.Load()+1)))
}

// watchAs opens a watch stream with the ticket tok.
func (e *hallEnv) watchAs(region, query, tok string) *watcher {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	opts := &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}}
	var c *websocket.Conn
	for {
		var resp *http.Response
		var err error
		c, resp, err = websocket.Dial(ctx, "ws"+e.url[len("http"):]+"/v1/regions/"+region+"/watch"+query, opts)
		if err == nil {
			break
		}
		// The hall applies source.Set asynchronously (Run reads the
		// source's channel): a region just set may not exist for a moment,
		// nor the hall have its first topology (503 NOT_SYNCED).
		if resp == nil || (resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusServiceUnavailable) || ctx.Err() != nil {
			e.t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.SetReadLimit(64 << 20)
	w := &watcher{t: e.t, c: c, msgs: make(chan hall.WatchMessage, 1024), errc: make(chan error, 1), view: map[int]hall.Room{}}
	go w.read()
	e.t.Cleanup(func() { c.CloseNow() })
	return w
}

// read feeds w.msgs until the stream ends (then w.errc says why).
func (w *watcher) read() {
	for {
		_, b, err := w.c.Read(context.Background())
		if err != nil {
			w.errc <- err
			close(w.msgs)
			return
		}
		var m hall.WatchMessage
		if err := json.Unmarshal(b, &m); err != nil {
			w.errc <- err
			close(w.msgs)
			return
		}
		w.msgs <- m
	}
}

// apply folds one message into the view, checking version order.
func (w *watcher) apply(m hall.WatchMessage) {
	w.t.Helper()
	w.types = append(w.types, m.Type)
	w.last = m
	switch m.Type {
	case "snapshot", "resume":
		w.epoch, w.version = m.Epoch, m.Version
		m.Apply(w.view, 0)
	case "delta":
		if !m.Apply(w.view, w.version) || m.Version <= m.Since {
			w.t.Fatalf("delta since %d (to %d) at version %d", m.Since, m.Version, w.version)
		}
		w.version = m.Version
	default:
		w.t.Fatalf("unknown message type %q", m.Type)
	}
}

// until applies messages until cond holds on the view.
func (w *watcher) until(what string, cond func(view map[int]hall.Room) bool) {
	w.t.Helper()
	timeout := time.After(wait)
	for len(w.types) == 0 || !cond(w.view) {
		select {
		case m, ok := <-w.msgs:
			if !ok {
				w.t.Fatalf("watch closed waiting for %s: %v", what, <-w.errc)
			}
			w.apply(m)
		case <-timeout:
			w.t.Fatalf("timed out waiting for %s; view has %d rooms", what, len(w.view))
		}
	}
}

// untilMsg applies messages until one satisfies cond.
func (w *watcher) untilMsg(what string, cond func(m hall.WatchMessage) bool) {
	w.t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case m, ok := <-w.msgs:
			if !ok {
				w.t.Fatalf("watch closed waiting for %s: %v", what, <-w.errc)
			}
			w.apply(m)
			if cond(m) {
				return
			}
		case <-timeout:
			w.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// closed applies messages until the stream ends and returns why.
func (w *watcher) closed() error {
	w.t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case m, ok := <-w.msgs:
			if !ok {
				return <-w.errc
			}
			w.apply(m)
		case <-timeout:
			w.t.Fatal("the stream did not close")
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	storetest.Eventually(t, what, cond)
}
