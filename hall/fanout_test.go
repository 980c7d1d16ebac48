package hall

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/ticket"
)

// socketPair is a real loopback TCP connection: the hall's end as the
// fan-out sees it, and the client's end.
func socketPair(t *testing.T) (*rawConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	rc, err := newRawConn(server)
	if err != nil {
		t.Fatal(err)
	}
	return rc, client
}

// readMessage reads one server frame's payload.
func readMessage(r *bufio.Reader) ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	if h[0] != 0x81 {
		return nil, errors.New("not a final text frame")
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return nil, err
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return nil, err
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return p, err
}

// TestSlowWatcherDoesNotDelayOthers: a client that stops reading fills its
// socket; the fan-out finishes that write on a goroutine of its own and
// keeps serving the others at every pass. When the client reads again it
// gets, in a few messages, everything it missed, and ends with the current
// rooms.
func TestSlowWatcherDoesNotDelayOthers(t *testing.T) {
	keys, _ := ticket.NewRandomKeyring("k")
	// Passes back to back, no message budget: every pass serves everyone.
	h, err := New(Config{WriteTimeout: 20 * time.Second, DeltaInterval: time.Nanosecond, MaxWatchMessages: 1e9}, Deps{Keys: keys, Presence: presence.NewMemory(), Source: NewStaticSource(),
		Dial: func(context.Context, string, string) (Feed, error) { return nil, errors.New("no shards here") }, Log: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	d := h.dir
	d.setRegions([]RegionInfo{{Name: "r"}})
	reg := d.regions["r"]
	set := h.watchSetOf(reg)
	add := func() (*watcher, net.Conn) {
		rc, client := socketPair(t)
		rc.Conn.(*net.TCPConn).SetWriteBuffer(4096)
		client.(*net.TCPConn).SetReadBuffer(4096)
		w := &watcher{conn: rc, set: set}
		w.pinged.Store(time.Now().Add(time.Hour).UnixNano()) // no pings in this test
		set.add(w)
		return w, client
	}
	slow, slowClient := add()
	fast, fastClient := add()
	fastView, slowView := map[int]Room{}, map[int]Room{}
	fastVersion := uint64(0)
	fastMsgs := make(chan WatchMessage, 1)
	go func() {
		r := bufio.NewReader(fastClient)
		for {
			p, err := readMessage(r)
			if err != nil {
				close(fastMsgs)
				return
			}
			var m WatchMessage
			json.Unmarshal(p, &m) // a bad message fails Apply below
			fastMsgs <- m
		}
	}()

	passes, stalledAt := 0, 0
	for ; passes < 2000 && (stalledAt == 0 || passes < stalledAt+20); passes++ {
		rs := rooms("s0", 1, 300, 0)
		for i := range rs {
			rs[i].Players = (passes + i) % 400
		}
		d.setShard(nil, "r", "s0", rs, time.Now())
		d.publish()
		h.fanout(time.Now())
		// The fast client gets this pass's delta, stalled neighbour or not.
		m := <-fastMsgs
		if !m.Apply(fastView, fastVersion) || m.Version != reg.latest.Load() {
			t.Fatalf("pass %d: fast watcher got since %d → %d at %d (latest %d)", passes, m.Since, m.Version, fastVersion, reg.latest.Load())
		}
		fastVersion = m.Version
		if stalledAt == 0 && slow.busy.Load() {
			stalledAt = passes
		}
	}
	if stalledAt == 0 {
		t.Fatalf("the slow watcher never stalled in %d passes", passes)
	}
	// The slow client reads again: a few messages bring it to the end.
	r := bufio.NewReader(slowClient)
	version, msgs := uint64(0), 0
	slowClient.SetReadDeadline(time.Now().Add(wait))
	for version < reg.latest.Load() {
		p, err := readMessage(r)
		if err != nil {
			t.Fatalf("slow client after %d messages: %v", msgs, err)
		}
		m := decode(t, p)
		if !m.Apply(slowView, version) {
			t.Fatalf("message %d: since %d at version %d", msgs, m.Since, version)
		}
		version, msgs = m.Version, msgs+1
	}
	if !maps.Equal(slowView, fastView) || len(fastView) != 300 {
		t.Fatalf("slow view %d rooms, fast %d, equal %v", len(slowView), len(fastView), maps.Equal(slowView, fastView))
	}
	t.Logf("stalled at pass %d of %d; %d messages read", stalledAt, passes, msgs)
	if after := msgs - stalledAt; after > 3 {
		t.Fatalf("%d messages for the %d passes it missed: want one catch-up", after, passes-stalledAt)
	}
	if fast.busy.Load() {
		t.Fatal("the fast watcher was left busy")
	}
}

// TestWatchGap: past the message budget, watchers are updated less often.
func TestWatchGap(t *testing.T) {
	for _, tt := range []struct {
		watchers int64
		want     time.Duration
	}{{0, 200 * time.Millisecond}, {10000, 200 * time.Millisecond}, {20000, 400 * time.Millisecond}, {50000, time.Second}} {
		h := &Server{cfg: Config{DeltaInterval: 200 * time.Millisecond, MaxWatchMessages: 50000}}
		h.clients.Store(tt.watchers)
		if got := h.watchGap(); got != tt.want {
			t.Errorf("%d watchers: gap %v, want %v", tt.watchers, got, tt.want)
		}
	}
}

const wait = 20 * time.Second
