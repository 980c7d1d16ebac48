package gameserver_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/gameserver"
)

// A connection's goroutines end with it, while the shard runs on.
func TestNoGoroutineOutlivesItsConnection(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 50, TablesPerRoom: 10}, nil, nil)
	ctx := ctx20(t)
	e.dial("warm").Ping(ctx)
	before := settledGoroutines() // Run's own goroutines may still be starting
	for i := 0; i < 20; i++ {
		tok, _ := e.ticketFor(fmt.Sprintf("p%d", i))
		c, err := client.Dial(ctx, e.addr(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.EnterRoom(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := c.QuickSeat(ctx); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	eventually(t, "every player gone", func() bool { return e.srv.Stats().Players == 0 })
	waitGoroutines(t, before)
}

// settledGoroutines returns the goroutine count once it stops changing.
func settledGoroutines() int {
	n, same := runtime.NumGoroutine(), 0
	for same < 10 {
		time.Sleep(20 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}

// waitGoroutines polls until at most n goroutines run; on timeout it prints
// them, so a leak names itself.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			var b strings.Builder
			pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Fatalf("%d goroutines, want ≤ %d:\n%s", runtime.NumGoroutine(), n, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Every goroutine a shard starts ends with Run.
func TestNoGoroutineOutlivesTheShard(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1}, nil, nil)
		ctx := ctx20(t)
		cs := seatThree(t, e, "a", "b", "c")
		for _, c := range cs {
			c.Ready(ctx)
		}
		tok, _ := e.ticketFor("web")
		w, err := client.DialWebSocket(ctx, "ws://"+e.addr()+"/ws", tok)
		if err != nil {
			t.Fatal(err)
		}
		oc, err := client.DialOccupancy(ctx, e.internalURL(), e.serviceTicket())
		if err != nil {
			t.Fatal(err)
		}
		oc.Recv()
		half := rawDial(t, e) // connected, never says Hello
		_ = half
		e.stop()
		for _, c := range cs {
			<-c.Done()
		}
		<-w.Done()
		oc.Close()
		half.Close()
	}()
	var n int
	eventually(t, "goroutines to end", func() bool {
		n = runtime.NumGoroutine()
		return n <= before+1 // +1: the memory presence store's janitor, closed by cleanup later
	})
	_ = fmt.Sprint(n)
}

var _ = errors.New
var _ = context.Background
