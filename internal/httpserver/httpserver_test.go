package httpserver_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gamehall/gamehall/internal/httpserver"
)

func serve(t *testing.T, h http.Handler, adjust func(*http.Server)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpserver.New(h)
	adjust(srv)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// closedByServer reads from c until the server closes it; the client's own
// 20 s deadline failing instead means the server held the connection.
func closedByServer(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server held the connection past 20 s")
	}
}

// Every timeout is set; a client trickling its body, or idling after a
// request, is closed (shortened bounds, same server).
func TestTimeouts(t *testing.T) {
	srv := httpserver.New(nil)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Fatalf("a timeout is unset: %+v", srv)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok"))
	})
	addr := serve(t, h, func(s *http.Server) { s.ReadTimeout, s.IdleTimeout = time.Second, time.Second })
	t.Run("slow body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
		go func() {
			for range 1000 {
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		closedByServer(t, c)
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
		closedByServer(t, c)
	})
}

// A long-lived handler keeps its connection past the server's read and
// write timeouts, its context alive.
func TestLongLivedOutlivesTheTimeouts(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := httpserver.LongLived(w); err != nil {
			t.Error(err)
			return
		}
		rc := http.NewResponseController(w)
		for i := range 4 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Second):
			}
			w.Write([]byte(strings.Repeat("x", i+1) + "\n"))
			rc.Flush()
		}
	})
	addr := serve(t, h, func(s *http.Server) { s.ReadTimeout, s.WriteTimeout = 500*time.Millisecond, 500*time.Millisecond })
	resp, err := http.Get("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != "x\nxx\nxxx\nxxxx\n" {
		t.Fatalf("stream past the timeouts: %q %v", b, err)
	}
}
