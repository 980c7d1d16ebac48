package bot

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/protocol/pb"
)

// event is a push with the time the reader goroutine got it.
type event struct {
	env *pb.Envelope
	at  time.Time
}

// session is one shard connection. Pushes are queued without bound by the
// reader goroutine, so a player busy with a request never blocks it.
type session struct {
	c      *client.Conn
	addr   string
	mu     sync.Mutex
	queue  []event
	signal chan struct{}
	closed atomic.Bool
	online *atomic.Int64 // Stats.Online, decremented on close
}

func dial(ctx context.Context, r *Runner, addr, ticket string) (*session, error) {
	s := &session{addr: addr, signal: make(chan struct{}, 1)}
	c, err := client.Dial(ctx, addr, ticket, client.Options{OnEvent: s.push})
	if err != nil {
		return nil, err
	}
	s.c, s.online = c, &r.stats.Online
	s.online.Add(1)
	return s, nil
}

func (s *session) push(env *pb.Envelope) {
	s.mu.Lock()
	s.queue = append(s.queue, event{env, time.Now()})
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *session) take(buf []event) []event {
	s.mu.Lock()
	buf = append(buf[:0], s.queue...)
	clear(s.queue)
	s.queue = s.queue[:0]
	s.mu.Unlock()
	return buf
}

func (s *session) close() {
	if s.closed.CompareAndSwap(false, true) {
		s.c.Close()
		s.online.Add(-1)
	}
}
