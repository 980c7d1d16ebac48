// Command writefloor measures the floor under the shard's cost per delivered
// message: a minimal Go program that writes the same pre-encoded chat frames
// to the same number of loopback sockets as `shardload --chat-only` (1,200
// players in rooms of 400, one chat per player every 5 s, each delivered to
// every member of its room), with no protocol, rooms or queues around it.
// The readers run in a child process (pin it with --reader-cpus), so the CPU
// read from /proc is the writer's alone:
//
//	taskset -c 0 go run ./hack/writefloor --reader-cpus 1 --tick 0     # one write per delivery
//	taskset -c 0 go run ./hack/writefloor --reader-cpus 1 --tick 50ms  # one write per member per tick
//
// See docs/benchmarks.md ("The floor").
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gamehall/gamehall/protocol"
	"github.com/gamehall/gamehall/protocol/pb"
)

func main() {
	conns := flag.Int("conns", 1200, "sockets (players)")
	room := flag.Int("room", 400, "sockets per room: a message goes to every socket of its room")
	every := flag.Duration("chat-interval", 5*time.Second, "each player sends one message this often")
	tick := flag.Duration("tick", 0, "0: write each frame to each socket at once; >0: gather a room's frames and write them once per tick")
	dur := flag.Duration("duration", 15*time.Second, "measurement window")
	readerCPUs := flag.String("reader-cpus", "", "run the reader process with `taskset -c` on these CPUs")
	read := flag.String("read", "", "internal: connect this many sockets to the address and read (the child process)")
	flag.Parse()
	if *read != "" {
		reader(*read, *conns)
		return
	}
	if err := writer(*conns, *room, *every, *tick, *dur, *readerCPUs); err != nil {
		fmt.Fprintln(os.Stderr, "writefloor:", err)
		os.Exit(1)
	}
}

// chatFrame is a ROOM chat push as the shard encodes it: same fields, same size.
func chatFrame(i int) []byte {
	return protocol.MustMarshal(&pb.Envelope{Msg: &pb.Envelope_ChatMessage{ChatMessage: &pb.ChatMessage{
		Scope: pb.ChatScope_ROOM, Room: 1, Table: -1, Account: fmt.Sprintf("load%06d", i),
		Text: strconv.FormatInt(time.Now().UnixNano(), 10),
	}}})
}

func writer(n, roomSize int, every, tick, dur time.Duration, readerCPUs string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	args := []string{os.Args[0], "--read", ln.Addr().String(), "--conns", strconv.Itoa(n)}
	if readerCPUs != "" {
		args = append([]string{"taskset", "-c", readerCPUs}, args...)
	}
	child := exec.Command(args[0], args[1:]...)
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		return err
	}
	defer child.Process.Kill()
	socks := make([]net.Conn, n)
	for i := range socks {
		if socks[i], err = ln.Accept(); err != nil {
			return err
		}
	}
	rooms := (n + roomSize - 1) / roomSize
	frame := chatFrame(0)
	// One message per player per interval, at random: rate messages/s.
	rate := float64(n) / every.Seconds()
	pending := make([][]byte, rooms) // per room, frames gathered for the tick
	var deliveries, writes int64
	flushRoom := func(r int, b []byte) {
		for _, s := range socks[r*roomSize : min(n, (r+1)*roomSize)] {
			if _, err := s.Write(b); err != nil {
				fmt.Fprintln(os.Stderr, "write:", err)
				os.Exit(1)
			}
			writes++
		}
	}
	start := time.Now()
	cpu0 := cpuSeconds()
	var sent int64
	lastFlush := start
	for time.Since(start) < dur {
		// Messages due by now at the target rate.
		due := int64(time.Since(start).Seconds() * rate)
		for ; sent < due; sent++ {
			r := rand.IntN(rooms)
			members := min(n, (r+1)*roomSize) - r*roomSize
			deliveries += int64(members)
			if tick == 0 {
				flushRoom(r, frame)
				continue
			}
			pending[r] = append(pending[r], frame...)
		}
		if tick > 0 && time.Since(lastFlush) >= tick {
			lastFlush = time.Now()
			for r, b := range pending {
				if len(b) > 0 {
					flushRoom(r, b)
					pending[r] = b[:0]
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	cpu := cpuSeconds() - cpu0
	fmt.Printf("floor: %d sockets in rooms of %d, %.0f messages/s, tick %v, frame %d B\n", n, roomSize, rate, tick, len(frame))
	fmt.Printf("deliveries %d (%.0f/s) in %d writes (%.1f deliveries per write)\n", deliveries, float64(deliveries)/el.Seconds(), writes, float64(deliveries)/float64(max(writes, 1)))
	fmt.Printf("writer CPU %.2f cores; %.2f µs per delivery, %.2f µs per write\n", cpu/el.Seconds(), cpu*1e6/float64(deliveries), cpu*1e6/float64(max(writes, 1)))
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("machine loadavg %s", b)
	}
	return nil
}

// reader connects n sockets and discards what arrives.
func reader(addr string, n int) {
	var got atomic.Int64
	var wg sync.WaitGroup
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dial:", err)
			os.Exit(1)
		}
		wg.Go(func() {
			b, _ := io.Copy(io.Discard, c)
			got.Add(b)
		})
	}
	wg.Wait()
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
