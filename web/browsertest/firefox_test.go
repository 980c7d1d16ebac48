//go:build browser

package browsertest

import (
	"testing"
	"time"
)

// TestBrowserFirefox: the lobby and a whole game in Debian's Firefox ESR,
// driven over WebDriver BiDi: a player signs up, sees the rooms' live
// counts change when two bots enter room 1, enters it, quick-seats at their
// table and plays to GAME_OVER with legal moves, the balances and the
// verified deal shown, as in Chromium; then the operator's view.
func TestBrowserFirefox(t *testing.T) {
	l := startLocal(t, sampleRegion(t))
	p := firefox(t)
	p.navigate(t, l.HallURL()+"/")
	p.waitJS(t, 20*time.Second, "the login form shows", `document.querySelector("#login-form") !== null && window.gamehall && window.gamehall.ready`)
	get[bool](t, p, `(() => { document.querySelector("#account").value = "carol"; document.querySelector("#password").value = "lantern-river-42";
		document.querySelector("#signup-button").click(); return true; })()`)
	p.waitJS(t, 20*time.Second, "the 4 rooms of the first shard show", `document.querySelectorAll("#rooms .room").length === 4`)
	p.waitJS(t, 20*time.Second, "the header shows the starting balance", `document.querySelector("#coins").textContent === "1000 coins"`)
	p.waitJS(t, 20*time.Second, "the rooms are live", `document.querySelector("#totals .live") !== null`)
	if n := get[string](t, p, `document.querySelector('#rooms .room[data-room="1"]').dataset.players`); n != "0" {
		t.Fatalf("room 1 shows %s players before anyone entered", n)
	}

	tb := newTableBots(t, l, 1)
	p.waitJS(t, 20*time.Second, "room 1 shows the 2 bots", `document.querySelector('#rooms .room[data-room="1"]').dataset.players === "2"`)
	if h := get[float64](t, p, `document.querySelector("#leaderboard").getBoundingClientRect().height`); h != 0 {
		t.Fatalf("the closed leaderboard takes %.0f px of the lobby", h)
	}
	p.screenshot(t, "lobby.png")

	playGame(t, p, tb, false)

	// The operator's view: the region's shard and its players (the two bots
	// at least: the page left its room by navigating away).
	ops, err := l.OpsURL()
	if err != nil {
		t.Fatal(err)
	}
	p.navigate(t, ops)
	p.waitJS(t, 20*time.Second, "the ops view shows the shard and the bots", `document.querySelectorAll(".shard").length >= 1 &&
		Number((document.querySelector("#ops-players") || {}).textContent) >= 2`)
	p.screenshot(t, "ops.png")
}
