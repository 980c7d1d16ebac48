package gameserver_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gamehall/gamehall/gameserver"
)

var httpClient = &http.Client{Timeout: 20 * time.Second}

func newRequest(method, url, tok string) (*http.Request, error) {
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		return nil, err
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	return r, nil
}

func TestProbesAndMetrics(t *testing.T) {
	e := startShard(t, gameserver.Config{Rooms: 1, RoomCapacity: 10, TablesPerRoom: 1}, nil, nil)
	c := e.dial("a")
	if _, err := c.EnterRoom(ctx20(t), 1); err != nil {
		t.Fatal(err)
	}
	c.EnterRoom(ctx20(t), 7) // ALREADY_IN_ROOM, counted by code
	get := func(path string) (int, string) {
		resp, err := httpClient.Get(e.internalURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	_, m := get("/metrics")
	for _, want := range []string{"gamehall_players 1", "gamehall_rooms_occupied 1", "gamehall_tables_playing 0",
		`gamehall_errors_total{code="ALREADY_IN_ROOM"} 1`, "gamehall_frames_in_total", "gamehall_frames_out_total", "gamehall_socket_writes_total", "gamehall_delivery_seconds_bucket"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	e.srv.Drain()
	if code, _ := get("/readyz"); code != 503 {
		t.Fatalf("readyz while draining %d", code)
	}
}
