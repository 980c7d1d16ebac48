//go:build browser

package browsertest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	v1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/local"
)

// TestBrowserRedirect: the page is loaded from a hall replica that is at
// its client limit; the lobby follows the replica's 307 to its least loaded
// peer (another origin) and shows that peer's live rooms there.
func TestBrowserRedirect(t *testing.T) {
	r := sampleRegion(t)
	l := startLocalWith(t, []v1.Region{r}, func(c *hall.Config) {
		c.Name, c.MaxClients, c.AdvertiseEvery = "hall-a", 1, 100*time.Millisecond
	})
	peerCtx, stopPeer := context.WithCancel(context.Background())
	t.Cleanup(stopPeer)
	peer, err := l.StartPeer(peerCtx, hall.Config{Name: "hall-b", AdvertiseEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}

	// Another client takes hall-a's only place: it watches the region.
	tok := playerTicket(t, l, "watcher")
	occupy(t, l, r.Name, tok)
	waitRedirect(t, l, tok, peer)

	ctx := browser(t)
	run(t, ctx, 30*time.Second, "opening the lobby at hall-a", chromedp.Navigate(l.HallURL()+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#account"), "bob"), chromedp.Click(chromedp.CSS("#login-button")))
	waitJS(t, ctx, 20*time.Second, "the lobby shows the rooms", `document.querySelectorAll("#rooms .room").length === 4`)
	hallNow := eval[string](t, ctx, `window.gamehall.S.session.hall`)
	watchAt := eval[string](t, ctx, `(() => { const u = new URL(window.gamehall.S.watch.ws.url); return u.origin + u.pathname; })()`)
	// The ticket travels in the subprotocol, never in the URL; the hall
	// answers with the stream's subprotocol.
	if u := eval[string](t, ctx, `window.gamehall.S.watch.ws.url`); strings.Contains(u, "ticket") {
		t.Fatalf("the watch URL carries the ticket: %s", u)
	}
	if p := eval[string](t, ctx, `window.gamehall.S.watch.ws.protocol`); p != hall.WatchProtocol {
		t.Fatalf("the watch stream's subprotocol is %q, want %q", p, hall.WatchProtocol)
	}
	if hallNow != peer || !strings.HasPrefix(watchAt, "ws"+strings.TrimPrefix(peer, "http")+"/") {
		t.Fatalf("the lobby did not move to the peer %s: its hall is %s, its watch stream %s", peer, hallNow, watchAt)
	}
	// The rooms are live from the peer: a player entering shows.
	dialRoom(t, context.Background(), l, "entering", 1)
	waitJS(t, ctx, 20*time.Second, "room 1 shows its player", `document.querySelector('#rooms .room[data-room="1"]').dataset.players === "1"`)
	t.Logf("loaded from %s, redirected to %s; the watch stream is %s and shows a player entering room 1", l.HallURL(), hallNow, watchAt)
}

// occupy holds a watch stream on the local hall as a client would.
func occupy(t *testing.T, l *local.Local, region, tok string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(l.HallURL(), "http") + "/v1/regions/" + region + "/watch?page=auto"
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
	if err != nil {
		t.Fatalf("watching %s: %v", u, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatalf("the first watch message: %v", err)
	}
	go func() { // keep reading, as a watcher does
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
}

// waitRedirect waits until the local hall redirects new clients to peer
// (it has learned of the peer from presence).
func waitRedirect(t *testing.T, l *local.Local, tok, peer string) {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, l.HallURL()+"/v1/regions", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTemporaryRedirect && strings.HasPrefix(resp.Header.Get("Location"), peer+"/") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("hall-a does not redirect to %s: %s, Location %q", peer, resp.Status, resp.Header.Get("Location"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
