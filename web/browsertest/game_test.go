//go:build browser

package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/game/doudizhu"
	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/local"
	"github.com/gamehall/gamehall/protocol/pb"
)

// tableBots are two players at table 0 of a room, seats 1 and 2, who play
// every turn at once with client.TableView's legal moves.
type tableBots struct {
	conns []*client.Conn
	mu    sync.Mutex
	errs  []error
}

func newTableBots(t *testing.T, l *local.Local, room int) *tableBots {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tb := &tableBots{}
	for seat := 1; seat <= 2; seat++ {
		c := dialRoom(t, ctx, l, fmt.Sprintf("bot-seat%d", seat), room)
		st, err := c.SitDown(ctx, 0, seat)
		if err != nil {
			t.Fatalf("bot sits at seat %d: %v", seat, err)
		}
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		tb.conns = append(tb.conns, c)
		go tb.play(c, st)
	}
	return tb
}

func (tb *tableBots) play(c *client.Conn, st *pb.TableState) {
	var v client.TableView
	v.Reset(st)
	for env := range c.Events() {
		if st := env.GetTableState(); st != nil {
			v.Reset(st)
		}
		ge := env.GetGameEvent()
		if ge == nil {
			continue
		}
		v.Apply(ge)
		if ge.Kind != pb.GameEventKind_TURN || !v.MyTurn() {
			continue
		}
		bid, cards := v.Choose()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var err error
		if v.Phase == pb.GamePhase_BIDDING {
			err = c.Bid(ctx, bid)
		} else {
			err = c.Play(ctx, cards)
		}
		cancel()
		if err != nil && client.Code(err) != pb.ErrorCode_NOT_YOUR_TURN {
			tb.mu.Lock()
			tb.errs = append(tb.errs, err)
			tb.mu.Unlock()
		}
	}
}

// dialRoom connects an account to the shard of room and enters it.
func dialRoom(t *testing.T, ctx context.Context, l *local.Local, account string, room int) *client.Conn {
	t.Helper()
	return dialRoomIn(t, ctx, l, l.Status()[0].Name, account, room)
}

// dialRoomIn connects an account to the shard of a region's room and enters it.
func dialRoomIn(t *testing.T, ctx context.Context, l *local.Local, region, account string, room int) *client.Conn {
	t.Helper()
	tok := playerTicket(t, l, account)
	addr := roomAddr(t, ctx, l, tok, region, room)
	c, err := client.Dial(ctx, addr, tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.EnterRoom(ctx, room); err != nil {
		t.Fatalf("%s enters room %d: %v", account, room, err)
	}
	return c
}

// roomAddr looks a region's room up in the hall's directory.
func roomAddr(t *testing.T, ctx context.Context, l *local.Local, tok, region string, room int) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.HallURL()+"/v1/regions/"+region+"/rooms", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc hall.WatchMessage
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range doc.Rooms {
		if r.Room == room {
			return net.JoinHostPort(r.Address, strconv.Itoa(r.Port))
		}
	}
	t.Fatalf("room %d is not in the directory", room)
	return ""
}

// fillRoom enters n players into room.
func fillRoom(t *testing.T, l *local.Local, room, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		dialRoom(t, ctx, l, fmt.Sprintf("filler%d", i), room)
	}
}

// tableState is what the test reads of the page's table view.
type tableState struct {
	Phase  string `json:"phase"`
	Turn   int    `json:"turn"`
	MySeat int    `json:"mySeat"`
	MyTurn bool   `json:"myTurn"`
	Hand   []int  `json:"hand"`
	Bid    int    `json:"bid"`
	MoveNo int    `json:"moveNo"`
	ToBeat *struct {
		Kind, Rank, Length int
	} `json:"toBeat"`
	Over *struct {
		Kind   string `json:"kind"`
		Seat   int    `json:"seat"`
		Scores []int  `json:"scores"`
	} `json:"over"`
}

const readTable = `(() => { const v = window.gamehall.S.view; if (!v) return null;
	return {phase: v.phase, turn: v.turn, mySeat: v.mySeat, myTurn: v.myTurn, hand: v.hand, bid: v.bid, moveNo: v.moveNo,
		toBeat: v.toBeat && {Kind: v.toBeat.kind, Rank: v.toBeat.rank, Length: v.toBeat.length}, over: v.over}; })()`

// playGame enters room 1 in the page, quick-seats at the bots' table and
// plays a whole game by clicking: bids, cards, Play or Pass. The moves are
// chosen with game/doudizhu from the hand the page shows; the page checks
// them and the server must accept every one.
func playGame(t *testing.T, p page, tb *tableBots, drop bool) {
	p.click(t, `#rooms .room[data-room="1"]`)
	p.waitJS(t, 20*time.Second, "the room shows", `document.body.dataset.view === "room"`)
	p.click(t, "#quick-seat")
	p.waitJS(t, 20*time.Second, "the table shows", `document.body.dataset.view === "table" && document.querySelector("#ready") !== null`)
	p.click(t, "#ready")

	deadline := time.Now().Add(150 * time.Second)
	moves, shot, resumed := 0, false, false
	var last tableState
	for time.Now().Before(deadline) {
		st := get[*tableState](t, p, readTable)
		if st == nil {
			t.Fatal("the page left the table")
		}
		last = *st
		if st.Over != nil {
			break
		}
		if !st.MyTurn {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		// Bots answer at once: the turn may be back before the page is
		// looked at again, so a move counts as taken when the table moved on.
		taken := fmt.Sprintf(`window.gamehall.S.view.moveNo > %d || window.gamehall.S.view.over !== null`, st.MoveNo)
		switch st.Phase {
		case "BIDDING":
			hand := toCards(st.Hand)
			bid := doudizhu.SuggestBid(hand)
			if bid <= st.Bid {
				bid = 0
			}
			p.click(t, fmt.Sprintf("#bid%d", bid))
			p.waitJS(t, 20*time.Second, "the bid is taken", taken)
		case "PLAYING":
			var prev doudizhu.Combo
			if st.ToBeat != nil {
				prev = doudizhu.Combo{Kind: doudizhu.Kind(st.ToBeat.Kind), Rank: doudizhu.Rank(st.ToBeat.Rank), Length: st.ToBeat.Length}
			}
			legal := doudizhu.LegalMoves(toCards(st.Hand), prev)
			if len(legal) == 0 {
				p.click(t, "#pass")
			} else {
				m := legal[len(legal)-1] // the biggest play: the game ends sooner
				for _, c := range m.Cards {
					p.click(t, fmt.Sprintf(`#hand [data-card="%d"]`, c))
				}
				if !get[bool](t, p, `document.querySelector("#check").classList.contains("ok")`) {
					why := get[string](t, p, `document.querySelector("#check").textContent`)
					t.Fatalf("the page refuses %v, a legal move: %s", m, why)
				}
				if !shot && moves >= 2 {
					p.screenshot(t, "table.png")
					shot = true
				}
				if get[int](t, p, `document.querySelectorAll("#readings button").length`) > 0 {
					// Several readings: choose the one LegalMoves meant.
					i := get[int](t, p, fmt.Sprintf(`(() => { const want = {kind: %d, rank: %d, length: %d};
						const opts = window.gamehall.cards.check([...window.gamehall.S.sel], window.gamehall.S.view.toBeat).options;
						const i = opts.findIndex(o => o.kind === want.kind && o.rank === want.rank && o.length === want.length);
						document.querySelectorAll("#readings button")[Math.max(0, i)].click(); return i; })()`, m.Kind, m.Rank, m.Length))
					t.Logf("%s has several readings: chose #%d, %v", doudizhu.FormatCards(m.Cards), i, m)
				} else {
					p.click(t, "#play")
				}
			}
			moves++
			p.waitJS(t, 20*time.Second, "the move is taken", taken)
			if drop && moves == 2 && !resumed {
				dropAndResume(t, p)
				resumed = true
			}
		}
	}
	if last.Over == nil {
		t.Fatalf("no GAME_OVER within the deadline; last state %+v", last)
	}
	log := get[[]string](t, p, `window.gamehall.log`)
	for _, line := range log {
		t.Logf("game: %s", line)
	}
	title := get[string](t, p, `document.querySelector("#gameover h2").textContent`)
	t.Logf("GAME_OVER shown: %q, scores %v (the browser is seat %d)", title, last.Over.Scores, last.MySeat)
	checkSettledAndFair(t, p, last.MySeat)
	sum := 0
	for _, s := range last.Over.Scores {
		sum += s
	}
	if len(last.Over.Scores) != 3 || sum != 0 {
		t.Fatalf("scores %v: want three that sum to zero", last.Over.Scores)
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.errs) > 0 {
		t.Fatalf("the bots' moves were refused: %v", tb.errs)
	}
	if !shot {
		p.screenshot(t, "table.png")
	}
	if drop && !resumed {
		t.Fatal("the game ended before the connection could be dropped")
	}
}

// dropAndResume cuts the page's shard WebSocket in the middle of the game,
// as a network drop would (no Leave is sent), and checks that the page
// reconnects and the server resumes the seat: Welcome.resumed ("your seat
// was kept") and a TableState with the same seat and the hand. The test
// blanks the page's view of the table first, so the seat and hand it then
// shows can only have come back from the server.
func dropAndResume(t *testing.T, p page) {
	t.Helper()
	before := get[*tableState](t, p, readTable)
	if before == nil || before.Over != nil {
		t.Fatalf("no game to drop out of: %+v", before)
	}
	get[bool](t, p, `(() => { const g = window.gamehall;
		g.S.view.hand = []; g.S.view.mySeat = -1;
		g.S.conn.ws.close(4000, "dropped by the browser test"); return true; })()`)
	p.waitJS(t, 30*time.Second, "the page reconnects", `window.gamehall.S.reconnects === 1`)
	p.waitJS(t, 20*time.Second, "the server sends the table back", `window.gamehall.S.view !== null && window.gamehall.S.view.mySeat !== -1 && window.gamehall.S.view.hand.length > 0`)
	after := get[*tableState](t, p, readTable)
	toasts := get[[]string](t, p, `window.gamehall.toasts`)
	kept := false
	for _, m := range toasts {
		kept = kept || strings.Contains(m, "your seat was kept")
	}
	if !kept {
		t.Fatalf("the page reconnected but not into its seat (Welcome.resumed false); toasts %q", toasts)
	}
	if !get[bool](t, p, `window.gamehall.S.view.fair.hands.length > 0`) {
		t.Fatal("after the resume the page forgot the deal it saw: its fairness check could compare no hands")
	}
	if after.MySeat != before.MySeat {
		t.Fatalf("resumed at seat %d, sat at %d", after.MySeat, before.MySeat)
	}
	// A turn may have been played for the page while it was away (the turn
	// timer), so the hand may only have shrunk.
	had := map[int]bool{}
	for _, c := range before.Hand {
		had[c] = true
	}
	for _, c := range after.Hand {
		if !had[c] {
			t.Fatalf("the resumed hand %v has card %d the hand before the drop %v had not", after.Hand, c, before.Hand)
		}
	}
	t.Logf("connection dropped at move %d; resumed at seat %d with %d of %d cards, the game at move %d", before.MoveNo, after.MySeat, len(after.Hand), len(before.Hand), after.MoveNo)
}

// checkSettledAndFair: the GAME_OVER box shows each seat's new balance (the
// region keeps coins: the game was settled before GAME_OVER) and the deal
// verified from the revealed seed; the header's balance follows.
func checkSettledAndFair(t *testing.T, p page, mySeat int) {
	t.Helper()
	type over struct {
		Settlement string
		Balances   []int64
		Fair       struct {
			OK  bool
			Why string
		}
		Shown           []string
		Fairness, Coins string
	}
	o := get[over](t, p, `(() => { const o = window.gamehall.S.view.over;
		return {settlement: o.settlement, balances: o.balances, fair: {ok: o.fair.ok, why: o.fair.why},
			shown: [...document.querySelectorAll("#gameover .balance")].map(e => e.textContent),
			fairness: document.querySelector("#fairness").textContent, coins: document.querySelector("#coins").textContent}; })()`)
	t.Logf("GAME_OVER: settlement %s, balances %v (shown %v); %q; header %q", o.Settlement, o.Balances, o.Shown, o.Fairness, o.Coins)
	if !o.Fair.OK {
		t.Fatalf("the page could not verify the deal: %s", o.Fair.Why)
	}
	if o.Settlement != "SETTLED" || len(o.Balances) != 3 || len(o.Shown) != 3 {
		t.Fatalf("GAME_OVER without balances: settlement %q, balances %v, shown %v", o.Settlement, o.Balances, o.Shown)
	}
	for i, b := range o.Balances {
		if o.Shown[i] != fmt.Sprint(b) {
			t.Fatalf("seat %d: balance %d, shown %q", i, b, o.Shown[i])
		}
	}
	if want := fmt.Sprintf("%d coins", o.Balances[mySeat]); o.Coins != want {
		t.Fatalf("the header shows %q, want %q", o.Coins, want)
	}
	p.screenshot(t, "gameover.png")
}

func toCards(xs []int) []doudizhu.Card {
	out := make([]doudizhu.Card, len(xs))
	for i, x := range xs {
		out[i] = doudizhu.Card(x)
	}
	return out
}
