package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gamehall/gamehall/client"
	"github.com/gamehall/gamehall/protocol/pb"
)

var chatLines = []string{"gg", "nice one", "well played", "again?", "that bomb!", "lucky cards", "hi all", "ha"}

// outcome is how a stay in a room ended.
type outcome int

const (
	visitOver outcome = iota // left (or stopped): the visit is over
	noSeat                   // the room had no free seat: try another
	shardGone                // the shard went, or the seat could not be resumed: back to the hall
)

// play sits down and plays games until the visit ends, resuming its seat
// on a new connection when one is lost. It returns how the stay ended and
// the session it ended on (the caller closes it).
func (p *player) play(ctx context.Context, s *session, region string, room int, ticket string) (outcome, *session) {
	st := p.r.stats
	req := func(f func(ctx context.Context) error) error {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return f(rctx)
	}
	chat := func(scope pb.ChatScope, line string) {
		if err := req(func(c context.Context) error { return s.c.Chat(c, scope, line) }); err == nil {
			st.Chats.Add(1)
		} else if ctx.Err() == nil && !s.closed.Load() {
			p.shardFailure("chat", err)
		}
	}
	if p.rng.Float64() < p.r.cfg.ChatChance/2 {
		chat(pb.ChatScope_ROOM, "hello everyone")
	}
	var ts *pb.TableState
	err := req(func(c context.Context) (err error) { ts, err = s.c.QuickSeat(c); return })
	if err != nil {
		_ = req(func(c context.Context) error { return s.c.LeaveRoom(c) })
		if client.Code(err) == pb.ErrorCode_NO_FREE_SEAT {
			st.NoSeat.Add(1)
			return noSeat, s
		}
		if ctx.Err() == nil && !s.closed.Load() {
			p.shardFailure("quick seat", err)
		}
		return visitOver, s
	}
	st.Seated.Add(1)
	defer st.Seated.Add(-1)
	var v View
	v.Reset(ts)
	var deals client.DealCheck // this seat's deals, verified at each game's end
	// A game this player may not see end (it leaves mid-game, or loses its
	// connection) is settled without telling it: its last known balance is
	// stale until another GAME_OVER tells it the new one.
	unsure := func() {
		if v.Phase == pb.GamePhase_BIDDING || v.Phase == pb.GamePhase_PLAYING {
			st.ForgetBalance(region, p.account)
		}
	}
	defer unsure()

	target := p.r.cfg.MinGames + p.rng.IntN(p.r.cfg.MaxGames-p.r.cfg.MinGames+1)
	games := 0
	leaving := false       // leave as soon as no game runs
	var leaveBy time.Time  // after a stop: escape if the game still runs then
	var moveSent time.Time // when our last move went out, for delivery latency
	var moveKind pb.GameEventKind
	needReady := true
	timer := time.NewTimer(p.think() / 4) // the first Ready comes quickly
	ping := time.NewTicker(min(10*time.Second, p.r.cfg.TableWait/2))
	idleSince := time.Now() // the last time a game ran at the table
	defer timer.Stop()
	defer ping.Stop()
	drop := time.NewTimer(time.Hour)
	drop.Stop()
	armDrop := func(d time.Duration) {
		if p.r.cfg.DropEvery > 0 {
			drop.Reset(d)
		}
	}
	armDrop(time.Duration(p.rng.ExpFloat64() * float64(p.r.cfg.DropEvery)))
	defer drop.Stop()
	// resumed takes the new session of a resumed seat.
	resumed := func(ns *session) {
		s = ns
		moveSent, needReady = time.Time{}, v.Phase == pb.GamePhase_WAITING
		timer.Reset(p.think() / 4)
	}
	lastSent := time.Now()
	stop := p.r.stop
	var buf []event

	leave := func() {
		_ = req(func(c context.Context) error { return s.c.LeaveRoom(c) })
		st.Visits.Add(1)
	}
	// handle applies the queued pushes; it reports true when the visit is over.
	handle := func() bool {
		buf = s.take(buf)
		for _, e := range buf {
			switch m := e.env.Msg.(type) {
			case *pb.Envelope_TableState: // after a resume
				if int(m.TableState.Table) == v.Table && m.TableState.MoveNo >= v.MoveNo {
					v.Reset(m.TableState)
				}
			case *pb.Envelope_GameEvent:
				ev := m.GameEvent
				if int(ev.Table) != v.Table || !v.Apply(ev) {
					continue
				}
				deals.Observe(ev)
				if int(ev.Seat) == v.MySeat && !moveSent.IsZero() &&
					(ev.Kind == pb.GameEventKind_BID || ev.Kind == pb.GameEventKind_PLAY || ev.Kind == pb.GameEventKind_PASS) {
					if ev.Auto {
						st.AutoMoves.Add(1)
					} else if ev.Kind == moveKind || (moveKind == pb.GameEventKind_PLAY && ev.Kind == pb.GameEventKind_PASS) {
						st.MoveDelivery.Record(e.at.Sub(moveSent))
					}
					moveSent = time.Time{}
				}
				switch ev.Kind {
				case pb.GameEventKind_TURN:
					if v.MyTurn() {
						timer.Reset(p.think())
					}
				case pb.GameEventKind_GAME_OVER, pb.GameEventKind_ESCAPE:
					p.gameOver(ev, v.MySeat)
					p.checkGame(ev, v.MySeat, &deals, region)
					games++
					idleSince = time.Now()
					if games >= target {
						leaving = true
					}
					if leaving {
						if p.rng.Float64() < p.r.cfg.ChatChance {
							chat(pb.ChatScope_TABLE, "bye, gg")
						}
						leave()
						return true
					}
					if p.rng.Float64() < p.r.cfg.ChatChance {
						chat(pb.ChatScope_TABLE, chatLines[p.rng.IntN(len(chatLines))])
					}
					needReady = true
					timer.Reset(p.think())
				}
			case *pb.Envelope_Settled:
				if i := slices.Index(m.Settled.Accounts, p.account); i >= 0 && i < len(m.Settled.Balances) {
					st.Balance(region, p.account, m.Settled.Balances[i])
					st.LateSettled.Add(1)
				}
			case *pb.Envelope_Kicked:
				// The connection ends right after; Done says what to do.
			}
		}
		return false
	}
	for {
		select {
		case <-ctx.Done():
			return visitOver, s
		case <-s.c.Done():
			if s.closed.Load() || ctx.Err() != nil {
				return visitOver, s
			}
			handle() // the last pushes, a game result among them
			unsure()
			ns, out := p.afterLoss(ctx, s, ticket, &v)
			if ns == nil {
				return out, s
			}
			resumed(ns)
		case <-drop.C:
			if v.Phase != pb.GamePhase_PLAYING || min(v.CardsLeft[0], v.CardsLeft[1], v.CardsLeft[2]) < 6 || leaving {
				// Only mid-game, far from its end: a game that ends while
				// the connection is down frees the seat, as it should.
				armDrop(time.Second)
				continue
			}
			st.DropsOnPurpose.Add(1)
			unsure()
			p.r.events.add(Event{Kind: EvDropped, Account: p.account, Shard: s.addr, InGame: true})
			s.close()
			ns, out := p.resumeSeat(ctx, s.addr, ticket, &v, time.Now())
			if ns == nil {
				return out, s
			}
			resumed(ns)
			armDrop(time.Duration(p.rng.ExpFloat64() * float64(p.r.cfg.DropEvery)))
		case <-stop:
			stop = nil
			leaving = true
			leaveBy = time.Now().Add(p.r.cfg.LeaveGrace)
			if v.Phase == pb.GamePhase_WAITING || v.Phase == pb.GamePhase_GAME_PHASE_UNSPECIFIED {
				leave()
				return visitOver, s
			}
		case <-ping.C:
			if v.Phase != pb.GamePhase_WAITING && v.Phase != pb.GamePhase_GAME_PHASE_UNSPECIFIED {
				idleSince = time.Now()
			} else if time.Since(idleSince) >= p.r.cfg.TableWait {
				leave()
				st.TableWaits.Add(1)
				return noSeat, s // another room, from the hall
			}
			if !leaveBy.IsZero() && time.Now().After(leaveBy) {
				leave() // an escape: the game went on too long after the stop
				return visitOver, s
			}
			if time.Since(lastSent) >= 10*time.Second {
				var rtt time.Duration
				if err := req(func(c context.Context) (err error) { rtt, err = s.c.Ping(c); return }); err == nil {
					st.Ping.Record(rtt)
				}
				lastSent = time.Now()
			}
		case <-s.signal:
			if handle() {
				return visitOver, s
			}
		case <-timer.C:
			// Apply what arrived meanwhile first: acting on an old view
			// would bid after the bidding ended, for instance.
			if handle() {
				return visitOver, s
			}
			if needReady && v.Phase == pb.GamePhase_WAITING {
				needReady = false
				err := req(func(c context.Context) error { return s.c.Ready(c) })
				lastSent = time.Now()
				if err != nil && client.Code(err) != pb.ErrorCode_GAME_IN_PROGRESS {
					if ctx.Err() == nil && !s.closed.Load() && s.c.Err() == nil {
						p.shardFailure("ready", err)
					}
					if s.c.Err() != nil {
						continue // the connection is gone: Done says what next
					}
					return visitOver, s
				}
				continue
			}
			if !v.MyTurn() {
				continue
			}
			bid, cards := v.Choose()
			moveNo := v.MoveNo
			moveSent = time.Now()
			lastSent = moveSent
			var err error
			if v.Phase == pb.GamePhase_BIDDING {
				moveKind = pb.GameEventKind_BID
				err = req(func(c context.Context) error { return s.c.Bid(c, bid) })
			} else {
				moveKind = pb.GameEventKind_PLAY
				if cards == nil {
					moveKind = pb.GameEventKind_PASS
				}
				err = req(func(c context.Context) error { return s.c.Play(c, cardBytes(cards)) })
			}
			if err == nil {
				st.Moves.Add(1)
				continue
			}
			moveSent = time.Time{}
			// The answer comes after any events the server sent before it,
			// so they are queued by now: if the game moved on without us,
			// the turn timer played for us and the move was late, not wrong.
			if handle() {
				return visitOver, s
			}
			late := v.MoveNo != moveNo
			switch code := client.Code(err); {
			case late, code == pb.ErrorCode_NOT_YOUR_TURN, code == pb.ErrorCode_NO_GAME:
				st.LateMoves.Add(1)
			case s.c.Err() != nil:
				// The connection is gone: Done says what next.
			default:
				if ctx.Err() == nil && !s.closed.Load() {
					p.shardFailure("move", err)
					if pe := (*client.Error)(nil); errors.As(err, &pe) {
						p.r.log.Info("move refused", "account", p.account, "code", pe.Code.String(), "msg", pe.Message,
							"phase", v.Phase.String(), "hand", fmt.Sprint(v.Hand), "last", fmt.Sprint(v.Last), "play", fmt.Sprint(cards))
					}
				}
			}
		}
	}
}

// gameOver checks the scores and counts the game once per table: by seat
// 0, or for an escape by the lowest seat that did not escape.
func (p *player) gameOver(ev *pb.GameEvent, mySeat int) {
	st := p.r.stats
	counter := 0
	if ev.Kind == pb.GameEventKind_ESCAPE && ev.Seat == 0 {
		counter = 1
	}
	if mySeat != counter {
		return
	}
	st.Games.Add(1)
	if ev.Kind == pb.GameEventKind_ESCAPE {
		st.Escapes.Add(1)
	}
	sum := int64(0)
	for _, s := range ev.Scores {
		sum += int64(s)
	}
	if len(ev.Scores) == 3 && sum == 0 {
		st.ZeroSum.Add(1)
	} else {
		st.NonZeroSum.Add(1)
		st.ProtocolError(fmt.Sprintf("game over with scores %v (sum %d)", ev.Scores, sum))
	}
}

// checkGame verifies the seat's deals against the revealed seed, and keeps
// the balance the GAME_OVER carries.
func (p *player) checkGame(ev *pb.GameEvent, mySeat int, deals *client.DealCheck, region string) {
	st := p.r.stats
	switch err := deals.Verify(ev, mySeat); {
	case err == nil:
		st.FairVerified.Add(1)
	case errors.Is(err, client.ErrNotWatched):
		st.FairUnwatched.Add(1)
	default:
		st.FairFailures.Add(1)
		st.ProtocolError("unfair deal: " + err.Error())
	}
	switch ev.Settlement {
	case pb.SettlementState_SETTLED:
		if mySeat >= 0 && mySeat < len(ev.Balances) {
			st.Balance(region, p.account, ev.Balances[mySeat])
		}
		st.SettledGames.Add(1)
	case pb.SettlementState_SETTLEMENT_PENDING:
		st.PendingGames.Add(1)
		st.ForgetBalance(region, p.account) // until the Settled push
	case pb.SettlementState_SETTLEMENT_FAILED:
		st.ProtocolError("settlement failed")
	default:
		st.UnratedGames.Add(1)
	}
}
