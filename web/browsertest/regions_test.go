//go:build browser

package browsertest

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	v1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// TestBrowserRegions: the lobby lists the hall's regions and follows the
// one picked; a room shows its tables and who sits where, and the page sits
// at the seat clicked, beside the player already there.
func TestBrowserRegions(t *testing.T) {
	south := sampleRegion(t)
	north := *south.DeepCopy()
	north.Name, north.Spec.DisplayName = "doudizhu-zone1-north", "Dou Dizhu · Zone 1 · North"
	l := startLocalWith(t, []v1.Region{south, north}, nil)
	ctx := browser(t)
	p := chromePage{ctx}
	run(t, ctx, 30*time.Second, "opening the lobby", chromedp.Navigate(l.HallURL()+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#account"), "erin"), chromedp.Click(chromedp.CSS("#login-button")))
	p.waitJS(t, 20*time.Second, "both regions are offered", `document.querySelectorAll("#regions button.region").length === 2`)
	p.click(t, `#regions button[data-region="doudizhu-zone1-north"]`)
	p.waitJS(t, 20*time.Second, "North's rooms show live", `window.gamehall.S.region === "doudizhu-zone1-north" &&
		new URL(window.gamehall.S.watch.ws.url).pathname.includes("/doudizhu-zone1-north/") &&
		document.querySelectorAll("#rooms .room").length === 4 && document.querySelector("#totals .live") !== null`)

	// A player sits at North's room 2, table 1, seat 2 (index 1).
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	frank := dialRoomIn(t, c, l, north.Name, "frank", 2)
	if _, err := frank.SitDown(c, 0, 1); err != nil {
		t.Fatal(err)
	}
	p.waitJS(t, 20*time.Second, "North's room 2 shows frank", `document.querySelector('#rooms .room[data-room="2"]').dataset.players === "1"`)
	p.click(t, `#rooms .room[data-room="2"]`)
	p.waitJS(t, 20*time.Second, "room 2 shows frank at table 1 and two free seats", `document.body.dataset.view === "room" &&
		document.querySelector('#tables .tablecard[data-table="0"] .occupant')?.textContent.includes("frank") &&
		document.querySelectorAll('#tables .tablecard[data-table="0"] button.sit').length === 2`)
	p.click(t, `#tables .tablecard[data-table="0"] button.sit[data-seat="2"]`)
	p.waitJS(t, 20*time.Second, "the page sits at seat 3 beside frank", `document.body.dataset.view === "table" &&
		window.gamehall.S.view.mySeat === 2 && window.gamehall.S.view.seats.some((s) => s.seat === 1 && s.account === "frank")`)
}
