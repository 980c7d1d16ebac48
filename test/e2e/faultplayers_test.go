//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	gclient "github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/protocol/pb"
)

// player is one of the suite's own players.
type player struct {
	account string
	room    int
	conn    *gclient.Conn
}

func (p *player) leave() {
	if p.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.conn.LeaveRoom(ctx)
	p.conn.Close()
}

// guestSessions: account → session of its last login. A guest name in
// use is refused to a login that does not name its live session.
var guestSessions sync.Map

// login logs account in as a guest through the Hall replica at hallIP,
// naming the session of its last login.
func login(hallIP, account string) (string, error) {
	last, _ := guestSessions.Load(account)
	s, _ := last.(string)
	body, _ := json.Marshal(map[string]string{"account": account, "session": s})
	hc := http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Post("http://"+net.JoinHostPort(hallIP, "8080")+"/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var lr struct{ Ticket, Session string }
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("login %s: %s", account, resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&lr)
	guestSessions.Store(account, lr.Session)
	return lr.Ticket, err
}

// enter logs a player in and enters the first room of shard s. racing: the
// shard may refuse with DRAINING (it read the drain mark first) — also a
// kept promise; then the player has no connection.
func (f *faultRun) enter(account string, s shardRef, racing bool) *player {
	halls := f.podIPs("gamehall.dev/hall=main")
	tk, err := login(halls[0], account)
	f.must(err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := gclient.Dial(ctx, s.addr, tk)
	if err != nil && racing && (f.drainConfirmed(s.name) || !f.shardRunning(s.name)) {
		// It read the mark first, was empty and shut down: nobody entered.
		f.c.Progressf("   %s: the shard had drained and was shutting down (%v): it had read the mark", account, err)
		return &player{account: account, room: int(s.rooms)}
	}
	f.must(err)
	p := &player{account: account, room: int(s.rooms), conn: conn}
	if _, err := conn.EnterRoom(ctx, p.room); err != nil {
		conn.Close()
		p.conn = nil
		if racing && gclient.Code(err) == pb.ErrorCode_DRAINING {
			f.c.Progressf("   %s: the shard refused the entry (DRAINING): it had read the mark", account)
			return p
		}
		f.t.Fatalf("%s entering room %d of %s: %v", account, p.room, s.name, err)
	}
	return p
}

// twoHalls logs one account in on both Hall replicas at once and enters a
// room of a different shard with each ticket, at once. Within a kick's
// deadline one of them must be gone (watchShards checks it too).
// Recovery: from the entries to one left.
func (f *faultRun) twoHalls() time.Duration {
	halls := f.podIPs("gamehall.dev/hall=main")
	ss, err := f.shards()
	f.must(err)
	if len(halls) < 2 || len(ss) < 2 {
		f.t.Fatalf("want 2 hall replicas and 2 shards, have %v and %d", halls, len(ss))
	}
	const acc = "fault-twin"
	// One login on each replica: the second names the first's session (a
	// guest's name is not taken over), and supersedes it, as a second
	// device would.
	tickets := make([]string, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		tk, err := login(halls[i], acc)
		f.must(err)
		tickets[i] = tk
	}
	conns := make([]*gclient.Conn, 2)
	t0 := time.Now()
	for i := range 2 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := gclient.Dial(ctx, ss[i].addr, tickets[i])
			if err != nil {
				f.c.Progressf("   ticket %d on %s: %v", i, ss[i].name, err)
				return
			}
			if _, err := c.EnterRoom(ctx, int(ss[i].rooms)); err != nil {
				f.c.Progressf("   ticket %d entering %s: %v", i, ss[i].name, err)
			}
			conns[i] = c
		})
	}
	wg.Wait()
	live := func() (n int, why string) {
		for i, c := range conns {
			if c == nil {
				continue
			}
			select {
			case <-c.Done():
				why += fmt.Sprintf(" ticket %d: %v;", i, c.Err())
			default:
				n++
			}
		}
		return n, why
	}
	f.c.Eventually("one of the two sessions left", 30*time.Second, func() (bool, string) {
		n, why := live()
		return n <= 1, fmt.Sprintf("%d live;%s", n, why)
	})
	rec := time.Since(t0)
	_, why := live()
	f.c.Progressf("   after %s:%s", rec.Round(time.Millisecond), why)
	if rec > kickDeadline {
		f.violate("same account on two halls: both sessions live for %s (kick deadline %s)", rec.Round(time.Millisecond), kickDeadline)
	}
	for _, c := range conns {
		if c != nil {
			(&player{conn: c}).leave()
		}
	}
	return rec
}
