//go:build browser

// Package browsertest drives the web client in a real Chromium (Debian's
// chromium, headless, over the DevTools protocol) and a real Firefox
// (Debian's firefox-esr, headless, over WebDriver BiDi) against `gamehall
// local` run in-process: the lobby's live rooms, whole Dou Dizhu games
// against two bots (one with its connection dropped and resumed), chat,
// ROOM_FULL with its suggestions, a hall redirect followed, and the
// operator's view seeing a shard added. `make test-browser` runs it; `make
// web` also refreshes the screenshots in docs/.
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	v1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/bot"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/local"
	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/protocol/pb"
)

// The sample Region, scaled down so that a handful of players fill it: 4
// rooms of 6 players (2 tables) per shard, a new shard past 80 %.
func sampleRegion(t *testing.T) v1.Region {
	t.Helper()
	loaded, _, err := local.LoadRegions([]string{"../../config/samples/gamehall_v1alpha1_region.yaml"})
	if err != nil || len(loaded) != 1 {
		t.Fatalf("loading the sample Region: %v (%d)", err, len(loaded))
	}
	r := loaded[0].Region
	r.Spec.RoomsPerShard, r.Spec.RoomCapacity, r.Spec.TablesPerRoom = 4, 6, 2
	r.Spec.MinShards, r.Spec.MaxShards = 1, 3
	return r
}

func startLocal(t *testing.T, r v1.Region) *local.Local {
	return startLocalWith(t, []v1.Region{r}, nil)
}

// startLocalWith starts local mode; hallCfg (if not nil) adjusts its hall.
func startLocalWith(t *testing.T, regions []v1.Region, hallCfg func(*hall.Config)) *local.Local {
	t.Helper()
	l, err := local.New(local.Config{Regions: regions, Listen: "127.0.0.1:0", ScaleEvery: 200 * time.Millisecond,
		ShutdownGrace: time.Second, DataDir: t.TempDir(), // accounts, coins, leaderboard: an SQLite file
		Hall: hallCfg,
		Shard: func(c *gameserver.Config) {
			// Bots think in milliseconds; people's rate limits would refuse them.
			c.MsgRate, c.MsgBurst = 10000, 10000
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := l.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		l.StopNow()
		<-done
	})
	return l
}

// browser starts a headless Chromium with a fresh profile. The flags keep it
// off the network: without them it calls home and, on a closed network,
// its own connections are refused.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		t.Fatal("no chromium: install Debian's chromium (hack/ensure-deps.sh chromium) or set CHROMIUM")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 860),
		chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// run runs browser steps with a deadline.
func run(t *testing.T, ctx context.Context, within time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript condition until it is true.
func waitJS(t *testing.T, ctx context.Context, within time.Duration, what, cond string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, within+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(within))); err != nil {
		// What the page told its user says why, more often than not.
		toasts, _ := chromedp.Run(ctx, chromedp.Evaluate[string](pageMessages))
		t.Fatalf("waiting until %s: %v (page messages: %q)", what, err, toasts)
	}
}

// pageMessages is what the page last told its user: when a wait fails it
// says why, more often than not.
const pageMessages = `(window.gamehall.toasts || []).concat((window.gamehall.log || []).slice(-4)).join(" | ")`

// page is a browser tab, driven over the DevTools protocol (Chromium) or
// WebDriver BiDi (Firefox), so that one game can be played in both.
type page interface {
	eval(t *testing.T, expr string, out any) // JSON-decodes the value of expr into out
	waitJS(t *testing.T, within time.Duration, what, cond string)
	click(t *testing.T, sel string)
	screenshot(t *testing.T, name string) // name without the browser's prefix
}

// get evaluates expr in p.
func get[T any](t *testing.T, p page, expr string) T {
	t.Helper()
	var v T
	p.eval(t, expr, &v)
	return v
}

// chromePage is a Chromium tab through chromedp.
type chromePage struct{ ctx context.Context }

func (p chromePage) eval(t *testing.T, expr string, out any) {
	t.Helper()
	if err := json.Unmarshal(eval[json.RawMessage](t, p.ctx, expr), out); err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
}
func (p chromePage) waitJS(t *testing.T, within time.Duration, what, cond string) {
	t.Helper()
	waitJS(t, p.ctx, within, what, cond)
}
func (p chromePage) click(t *testing.T, sel string) { t.Helper(); clickWith(t, p, sel) }
func (p chromePage) screenshot(t *testing.T, name string) {
	t.Helper()
	c, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	saveScreenshot(t, "web-"+name, png)
}

// click waits for the element and clicks it as a person would (a click
// event on it, after it is rendered and enabled).
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	clickWith(t, chromePage{ctx}, sel)
}

func clickWith(t *testing.T, p page, sel string) {
	t.Helper()
	q, _ := json.Marshal(sel)
	p.waitJS(t, 20*time.Second, sel+" can be clicked", `(() => { const e = document.querySelector(`+string(q)+`); return e !== null && !e.disabled; })()`)
	get[bool](t, p, `(() => { document.querySelector(`+string(q)+`).click(); return true; })()`)
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	chromePage{ctx}.screenshot(t, name)
}

// saveScreenshot writes png to $SCREENSHOTS (make web: docs/) or a
// temporary directory.
func saveScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := os.Getenv("SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", p, len(png))
}

func TestBrowser(t *testing.T) {
	l := startLocal(t, sampleRegion(t))
	ctx := browser(t)
	hallURL := l.HallURL()

	// The lobby: sign up and see the sample region's rooms live, and the
	// new account's starting balance.
	var weight pageWeight
	t.Run("lobby", func(t *testing.T) {
		run(t, ctx, 30*time.Second, "opening the lobby", chromedp.Navigate(hallURL+"/"),
			chromedp.WaitVisible(chromedp.CSS("#login-form")),
			chromedp.SendKeys(chromedp.CSS("#account"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), "123"),
			chromedp.Click(chromedp.CSS("#signup-button")))
		waitJS(t, ctx, 20*time.Second, "a short password is refused with the policy's reason", `document.querySelector("#login-error").textContent !== ""`)
		t.Logf("sign-up with a 3-character password: %q", eval[string](t, ctx, `document.querySelector("#login-error").textContent`))
		run(t, ctx, 30*time.Second, "signing up", chromedp.SetValue(chromedp.CSS("#password"), "lantern-river-42"),
			chromedp.Click(chromedp.CSS("#signup-button")))
		waitJS(t, ctx, 20*time.Second, "the 4 rooms of the first shard show", `document.querySelectorAll("#rooms .room").length === 4`)
		waitJS(t, ctx, 20*time.Second, "the header shows the starting balance", `document.querySelector("#coins").textContent === "1000 coins"`)
		weight = measure(t, ctx)
		t.Logf("first load: %d bytes transferred in %d requests; live rooms shown %.0f ms after navigation, %.0f ms after logging in", weight.Bytes, weight.Requests, weight.RoomsMs, weight.LoginMs)
	})

	// The page's classifier (it checks plays before sending them) agrees
	// with the server's on every reading of many random card sets.
	t.Run("cards", func(t *testing.T) { checkReadings(t, ctx) })

	// The page's fairness check redoes docs/protocol.md's test vector.
	t.Run("fair deal vector", func(t *testing.T) {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		got, err := chromedp.Run(c, chromedp.Evaluate[string](`(async () => { const f = await import("/static/js/fair.js");
			const seed = new Uint8Array(32);
			const d = f.deals(seed, 1)[0];
			return f.hex(f.sha256(seed)) + " " + d.hands[0].join(",") + " " + d.kitty.join(","); })()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		want := "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925 0,4,5,9,17,20,22,23,25,28,32,37,41,43,46,50,53 1,11,49"
		if got != want {
			t.Fatalf("the page's deal from the zero seed: %s, want %s", got, want)
		}
	})

	// Two bots enter room 1: its count in the lobby changes.
	tb := newTableBots(t, l, 1)
	t.Run("count changes", func(t *testing.T) {
		waitJS(t, ctx, 20*time.Second, "room 1 shows the 2 bots", `document.querySelector('#rooms .room[data-room="1"]').dataset.players === "2"`)
	})

	t.Run("game", func(t *testing.T) { playGame(t, chromePage{ctx}, tb, true) })

	// Chat at the table and in the room, with a player of the room who is
	// not at the table.
	t.Run("chat", func(t *testing.T) {
		other := dialRoom(t, context.Background(), l, "dave", 1)
		eval[bool](t, ctx, `(() => { document.querySelector("#table-chat-input").value = "good game";
			document.querySelector("#table-chat-form button").click(); return true; })()`)
		waitJS(t, ctx, 20*time.Second, "the table chat comes back from the table", `document.querySelector("#table-chat-log").textContent.includes("alice: good game")`)
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := other.Chat(c, pb.ChatScope_ROOM, "hello room 1"); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, 20*time.Second, "the room's chat shows at the table", `document.querySelector("#table-chat-log").textContent.includes("dave: hello room 1")`)
	})

	t.Run("room full", func(t *testing.T) {
		fillRoom(t, l, 2, 6)
		click(t, ctx, "#leave")
		waitJS(t, ctx, 20*time.Second, "room 2 shows full", `document.querySelector('#rooms .room[data-room="2"]').classList.contains("full")`)
		click(t, ctx, `#rooms .room[data-room="2"]`)
		waitJS(t, ctx, 20*time.Second, "ROOM_FULL offers rooms", `document.querySelectorAll("#suggested button").length > 0`)
		offered := eval[[]string](t, ctx, `[...document.querySelectorAll("#suggested button")].map(b => b.dataset.room)`)
		t.Logf("room 2 is full; the page offers rooms %v", offered)
		for _, r := range offered {
			if r == "2" {
				t.Fatalf("the full room is among the suggestions %v", offered)
			}
		}
		click(t, ctx, "#suggested button")
		waitJS(t, ctx, 20*time.Second, "the suggested room opens", `document.body.dataset.view === "room"`)
		run(t, ctx, 10*time.Second, "chatting in the room", chromedp.SendKeys(chromedp.CSS("#chat-input"), "anyone for a game?"),
			chromedp.Click(chromedp.CSS("#chat-form button")))
		waitJS(t, ctx, 20*time.Second, "the room chat comes back from the room", `document.querySelector("#chat-log").textContent.includes("alice: anyone for a game?")`)
		click(t, ctx, "#leave-room")
	})

	t.Run("ops", func(t *testing.T) {
		ops, err := l.OpsURL()
		if err != nil {
			t.Fatal(err)
		}
		run(t, ctx, 30*time.Second, "opening /ops", chromedp.Navigate(ops))
		waitJS(t, ctx, 20*time.Second, "the ops view shows the region's shard", `document.querySelectorAll(".shard").length >= 1`)
		// Bots fill the region past its target: the policy adds a shard.
		r := runBots(t, l, 22)
		waitJS(t, ctx, 60*time.Second, "a shard-added event shows", `document.querySelector('.event[data-kind="added"]') !== null`)
		waitJS(t, ctx, 20*time.Second, "the new shard's rooms show", `document.querySelectorAll(".shard").length >= 2 && Number((document.querySelector("#ops-players") || {}).textContent) > 10`)
		events := eval[[]string](t, ctx, `[...document.querySelectorAll(".event")].map(e => e.textContent)`)
		t.Logf("ops events: %q", events)
		screenshot(t, ctx, "ops.png")
		// The lobby, live with the bots.
		run(t, ctx, 30*time.Second, "back to the lobby", chromedp.Navigate(hallURL+"/"))
		waitJS(t, ctx, 20*time.Second, "the lobby shows both shards' rooms", `document.querySelectorAll("#rooms .room").length >= 8`)
		// The leaderboard: the browser's game ranked alice (the ranks
		// refresh every few seconds: reopen until she is there).
		click(t, ctx, "#leaderboard-button")
		waitJS(t, ctx, 60*time.Second, "the leaderboard ranks alice", `(() => {
			if (document.querySelector('#leaderboard-table tr.mine[data-account="alice"]')) return true;
			const b = document.querySelector("#leaderboard-button"); b.click(); b.click(); return false; })()`)
		t.Logf("leaderboard: %q", eval[[]string](t, ctx, `[...document.querySelectorAll("#leaderboard-table tr")].map(r => r.textContent)`))
		screenshot(t, ctx, "lobby.png")
		r.Stop()
	})
	writeFigures(t, weight)
}

// guestSessions: account → session of its last login (a guest name in use
// is refused to a login that does not name its live session).
var guestSessions sync.Map

// playerTicket logs account in (as a guest) and returns its ticket.
func playerTicket(t *testing.T, l *local.Local, account string) string {
	t.Helper()
	last, _ := guestSessions.Load(account)
	s, _ := last.(string)
	body, _ := json.Marshal(login.Request{Account: account, Session: s})
	resp, err := http.Post(l.HallURL()+"/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lr login.Response
	if err := json.NewDecoder(resp.Body).Decode(&lr); err != nil || lr.Ticket == "" {
		t.Fatalf("logging %s in: %s, %v", account, resp.Status, err)
	}
	guestSessions.Store(account, lr.Session)
	return lr.Ticket
}

// runBots starts n bots of package bot in the region; Stop ends them.
func runBots(t *testing.T, l *local.Local, n int) *bot.Runner {
	t.Helper()
	r, err := bot.New(bot.Config{HallURL: l.HallURL(), Players: n, Ramp: 50, Think: 150 * time.Millisecond,
		MinGames: 50, MaxGames: 50, Break: time.Second, LeaveGrace: time.Second, Prefix: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { r.Run(context.Background()); close(done) }()
	t.Cleanup(func() { r.Stop(); <-done })
	return r
}

type pageWeight struct {
	Bytes    int64   `json:"bytes"`
	Requests int     `json:"requests"`
	RoomsMs  float64 `json:"roomsMs"` // navigation start → live rooms shown (includes typing the name)
	LoginMs  float64 `json:"loginMs"` // "Enter the hall" clicked → live rooms shown
}

// measure reads the first load's bytes on the wire (Resource Timing's
// transferSize: headers and compressed bodies) and when the live rooms
// first showed.
func measure(t *testing.T, ctx context.Context) pageWeight {
	t.Helper()
	w := eval[pageWeight](t, ctx, `(() => {
		const nav = performance.getEntriesByType("navigation")[0];
		const res = performance.getEntriesByType("resource").filter(r => !r.name.includes("/v1/"));
		return {bytes: nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0), requests: 1 + res.length,
			roomsMs: window.gamehall.roomsShownAt - nav.startTime, loginMs: window.gamehall.roomsShownAt - window.gamehall.loginAt};
	})()`)
	if w.Bytes <= 0 || w.RoomsMs <= 0 {
		t.Fatalf("page measurements missing: %+v", w)
	}
	return w
}

// writeFigures logs the measurements for docs/benchmarks.md.
func writeFigures(t *testing.T, w pageWeight) {
	t.Logf("FIGURES page weight %d B in %d requests, live rooms %.0f ms after navigation, %.0f ms after login", w.Bytes, w.Requests, w.RoomsMs, w.LoginMs)
}
