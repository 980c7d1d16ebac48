package gameserver

import (
	"errors"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gamehall/gamehall/game/doudizhu"
	"github.com/gamehall/gamehall/protocol"
	"github.com/gamehall/gamehall/protocol/pb"
)

const seats = doudizhu.Seats

// table is one Dou Dizhu table. All fields are guarded by its room's mutex.
type table struct {
	room      *Room
	num       int32
	seats     [seats]*player
	ready     [seats]bool
	game      *doudizhu.Game
	moveNo    uint32 // per table, never reset: clients drop events older than a TableState
	landlord  int
	nextFirst int
	timer     *time.Timer
	timerGen  uint64
	deadline  time.Time // when the timer plays for the seat to move
	turnEnds  time.Time // the end of the current turn: no reconnect moves it
	log       gameLog   // the running game's id, seed and moves
	// settling: the last game's GAME_OVER waits for its settlement; the
	// next game starts after it (so no DEAL overtakes a GAME_OVER).
	settling bool
}

func (t *table) occupied() bool {
	return t.seats[0] != nil || t.seats[1] != nil || t.seats[2] != nil
}

func (t *table) free() int {
	n := 0
	for _, p := range t.seats {
		if p == nil {
			n++
		}
	}
	return n
}

func (t *table) seatsLocked() []*pb.SeatInfo {
	out := make([]*pb.SeatInfo, seats)
	for i, p := range t.seats {
		si := &pb.SeatInfo{Seat: int32(i)}
		if p != nil {
			si.Account, si.Ready, si.Connected = p.account, t.ready[i], p.conn.Load() != nil
		}
		out[i] = si
	}
	return out
}

func (t *table) infoLocked() *pb.TableInfo {
	return &pb.TableInfo{Table: t.num, Seats: t.seatsLocked(), Playing: t.game != nil}
}

func (t *table) sitLocked(p *player, seat int) pb.ErrorCode {
	if seat < 0 || seat >= seats {
		return pb.ErrorCode_NO_SUCH_SEAT
	}
	if t.seats[seat] != nil {
		return pb.ErrorCode_SEAT_TAKEN
	}
	t.seats[seat] = p
	t.ready[seat] = false
	p.table, p.seat = t, seat
	t.room.eventLocked(&pb.RoomEvent{Kind: pb.RoomEventKind_SIT, Account: p.account, Table: t.num, Seat: int32(seat)})
	return pb.ErrorCode_ERROR_CODE_UNSPECIFIED
}

// standLocked frees p's seat. Callers settle a running game first.
func (t *table) standLocked(p *player) {
	t.seats[p.seat] = nil
	t.ready[p.seat] = false
	t.room.eventLocked(&pb.RoomEvent{Kind: pb.RoomEventKind_STAND, Account: p.account, Table: t.num, Seat: int32(p.seat)})
	p.table, p.seat = nil, -1
}

func (t *table) readyLocked(p *player) {
	t.ready[p.seat] = true
	// Only the table needs READY (the room sees GAME_START): at 400 players
	// a room-wide READY would add a broadcast per player per game.
	t.sendSeatsLocked(protocol.MustMarshal(&pb.Envelope{Msg: &pb.Envelope_RoomEvents{RoomEvents: &pb.RoomEvents{
		Room: t.room.num, Players: int32(len(t.room.members)),
		Events: []*pb.RoomEvent{{Kind: pb.RoomEventKind_READY, Account: p.account, Table: t.num, Seat: int32(p.seat)}},
	}}}), false)
	t.maybeStartLocked()
}

// maybeStartLocked starts a game when all three seats are ready and
// connected and the last game is settled.
func (t *table) maybeStartLocked() {
	if t.game != nil || t.settling {
		return
	}
	for i, q := range t.seats {
		if q == nil || !t.ready[i] || q.conn.Load() == nil {
			return
		}
	}
	t.startLocked()
}

func (t *table) startLocked() {
	t.log = newGameLog(t.room.s.cfg, t.nextFirst, time.Now())
	t.game = doudizhu.NewFairGame(t.log.seed, t.nextFirst)
	t.nextFirst = (t.nextFirst + 1) % seats
	t.landlord = -1
	t.room.playing++
	t.room.s.metrics.gamesStarted.Inc()
	t.room.eventLocked(&pb.RoomEvent{Kind: pb.RoomEventKind_GAME_START, Table: t.num, Seat: -1})
	t.applyLocked(t.game.Dealt(), false)
}

// moveLocked runs a player's bid or play and broadcasts the outcome.
func (t *table) moveLocked(p *player, bid *int, cards []byte, reading *pb.Combo) (pb.ErrorCode, string) {
	if t.game == nil {
		return pb.ErrorCode_NO_GAME, "no game is running at this table; press Ready"
	}
	var evs []doudizhu.Event
	var err error
	if bid != nil {
		evs, err = t.game.Bid(p.seat, *bid)
	} else {
		cs := make([]doudizhu.Card, len(cards))
		for i, c := range cards {
			cs[i] = doudizhu.Card(c)
		}
		if reading != nil && len(cs) > 0 {
			evs, err = t.game.PlayAs(p.seat, cs, readingOf(reading))
		} else {
			evs, err = t.game.Play(p.seat, cs)
		}
	}
	if err != nil {
		if errors.Is(err, doudizhu.ErrNotYourTurn) {
			return pb.ErrorCode_NOT_YOUR_TURN, err.Error()
		}
		return pb.ErrorCode_ILLEGAL_MOVE, err.Error()
	}
	t.applyLocked(evs, false)
	return pb.ErrorCode_ERROR_CODE_UNSPECIFIED, ""
}

// applyLocked turns game events into frames: Dealt goes only to its seat,
// everything else to all three. Then it arms the turn timer, or finishes the
// game (its GAME_OVER is the batch's last event).
func (t *table) applyLocked(evs []doudizhu.Event, auto bool) {
	for _, ev := range evs {
		t.log.note(ev, auto)
		t.moveNo++
		ge := &pb.GameEvent{Table: t.num, MoveNo: t.moveNo, Seat: int32(ev.Seat), Multiplier: int32(ev.Multiplier), Auto: auto}
		switch ev.Kind {
		case doudizhu.Dealt:
			ge.Kind, ge.Cards = pb.GameEventKind_DEAL, cardBytes(ev.Cards)
			ge.GameId, ge.DealCommitment = t.log.id, t.log.commitment[:]
			if p := t.seats[ev.Seat]; p != nil {
				if c := p.conn.Load(); c != nil {
					c.send(protocol.MustMarshal(&pb.Envelope{Msg: &pb.Envelope_GameEvent{GameEvent: ge}}), time.Now().UnixNano())
				}
			}
			continue
		case doudizhu.BidMade:
			ge.Kind, ge.Bid = pb.GameEventKind_BID, int32(ev.Bid)
		case doudizhu.Redeal:
			ge.Kind = pb.GameEventKind_REDEAL
		case doudizhu.LandlordChosen:
			ge.Kind, ge.Bid, ge.Cards = pb.GameEventKind_LANDLORD, int32(ev.Bid), cardBytes(ev.Cards)
			t.landlord = ev.Seat
		case doudizhu.Played:
			ge.Kind, ge.Cards, ge.Combo = pb.GameEventKind_PLAY, cardBytes(ev.Cards), comboOf(ev.Combo)
		case doudizhu.Passed:
			ge.Kind = pb.GameEventKind_PASS
		case doudizhu.GameOver:
			ge.Kind = pb.GameEventKind_GAME_OVER
			for _, s := range ev.Result.Scores {
				ge.Scores = append(ge.Scores, int32(s))
			}
			ge.Multiplier = int32(ev.Result.Multiplier)
			t.finishLocked(ge, outcome{result: ev.Result, escaped: -1, scores: ge.Scores, bid: ev.Result.Bid})
			return
		default:
			continue
		}
		t.sendSeatsLocked(protocol.MustMarshal(&pb.Envelope{Msg: &pb.Envelope_GameEvent{GameEvent: ge}}), true)
	}
	t.startTurnLocked()
}

// startTurnLocked begins the turn the game is at: the seat has the turn
// time from now, then the timer plays for it.
func (t *table) startTurnLocked() {
	t.turnEnds = time.Now().Add(t.room.s.cfg.TurnTimeout)
	t.armLocked()
}

// armLocked (re)arms the turn timer: at the end of the turn for a connected
// player, after a short think (never later) for a seat in reconnect grace.
// A reconnect re-arms it without giving the turn time back: a player who
// reconnects again and again cannot hold the table forever.
func (t *table) armLocked() {
	if t.timer != nil {
		t.timer.Stop()
	}
	turn := t.game.Turn()
	if turn < 0 {
		return
	}
	deadline := t.turnEnds
	if p := t.seats[turn]; p == nil || p.conn.Load() == nil {
		if think := time.Now().Add(t.room.s.cfg.AutoPlayDelay); think.Before(deadline) {
			deadline = think
		}
	}
	t.timerGen++
	gen := t.timerGen
	t.deadline = deadline
	t.moveNo++
	t.sendSeatsLocked(protocol.MustMarshal(&pb.Envelope{Msg: &pb.Envelope_GameEvent{GameEvent: &pb.GameEvent{
		Table: t.num, MoveNo: t.moveNo, Kind: pb.GameEventKind_TURN, Seat: int32(turn), DeadlineUnixMs: t.deadline.UnixMilli(),
	}}}), false)
	t.timer = time.AfterFunc(max(time.Until(deadline), 0), func() { t.onTimer(gen) })
}

func (t *table) onTimer(gen uint64) {
	r := t.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if gen != t.timerGen || t.game == nil {
		return // a move or the end of the game beat the timer
	}
	evs, err := autoMove(t.game, t.game.Turn())
	if err != nil {
		r.s.log.Error(err, "auto move failed", "room", r.num, "table", t.num)
		return
	}
	r.s.metrics.autoMoves.Inc()
	t.applyLocked(evs, true)
}

// escapeLocked ends the game because seat left it: the escaper pays both
// others (2×base), keeping the scores zero-sum.
func (t *table) escapeLocked(seat int) {
	base := max(t.game.Multiplier(), 1)
	scores := make([]int32, seats)
	for i := range scores {
		if i == seat {
			scores[i] = int32(-2 * base)
		} else {
			scores[i] = int32(base)
		}
	}
	t.moveNo++
	t.room.s.metrics.escapes.Inc()
	t.finishLocked(&pb.GameEvent{Table: t.num, MoveNo: t.moveNo, Kind: pb.GameEventKind_ESCAPE, Seat: int32(seat), Scores: scores, Multiplier: int32(base)},
		outcome{escaped: seat, scores: scores, bid: t.game.CurrentBid()})
}

// finishLocked ends the game with its GAME_OVER or ESCAPE event: the seed is
// revealed, the record kept, and the result settled before the event goes
// out (see settle.go). Without a store the game is not rated: the event
// goes out at once.
func (t *table) finishLocked(ge *pb.GameEvent, o outcome) {
	ge.GameId, ge.DealSeed = t.log.id, slices.Clone(t.log.seed[:]) // the table's log is reset below
	st := t.room.s.settler
	if st == nil {
		t.sendSeatsLocked(protocol.MustMarshal(&pb.Envelope{Msg: &pb.Envelope_GameEvent{GameEvent: ge}}), true)
		t.endLocked()
		return
	}
	accounts := make([]string, seats)
	for i, p := range t.seats {
		accounts[i] = p.account // every seat is taken while a game runs
	}
	ended := time.Now()
	rec, err := proto.Marshal(t.recordLocked(accounts, o, ended))
	if err != nil {
		panic(err) // a GameRecord always marshals
	}
	g := &finishedGame{table: t, event: ge, accounts: accounts, ended: ended, settle: t.settlementOf(accounts, o, rec, ended)}
	t.settling = true
	t.endLocked()
	st.submit(g)
}

func (t *table) endLocked() {
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	t.timerGen++
	t.game = nil
	t.log = gameLog{}
	t.ready = [seats]bool{}
	t.room.playing--
	t.room.eventLocked(&pb.RoomEvent{Kind: pb.RoomEventKind_GAME_END, Table: t.num, Seat: -1})
	t.room.s.gameEnded()
}

func (t *table) sendSeatsLocked(b []byte, measure bool) {
	var at int64
	if measure {
		at = time.Now().UnixNano()
	}
	for _, p := range t.seats {
		if p != nil {
			if c := p.conn.Load(); c != nil {
				c.send(b, at)
			}
		}
	}
}

// stateLocked is the full table as p's seat sees it (p's own hand only).
func (t *table) stateLocked(p *player) *pb.TableState {
	st := &pb.TableState{Room: t.room.num, Table: t.num, MySeat: int32(p.seat), Seats: t.seatsLocked(),
		Phase: pb.GamePhase_WAITING, Turn: -1, Landlord: -1, LastPlaySeat: -1, MoveNo: t.moveNo}
	g := t.game
	if g == nil {
		return st
	}
	switch g.Phase() {
	case doudizhu.PhaseBidding:
		st.Phase = pb.GamePhase_BIDDING
	default:
		st.Phase = pb.GamePhase_PLAYING
	}
	st.Turn = int32(g.Turn())
	st.Hand = cardBytes(g.Hand(p.seat))
	for s := 0; s < seats; s++ {
		st.CardsLeft = append(st.CardsLeft, int32(g.HandSize(s)))
	}
	st.Landlord = int32(g.Landlord())
	if g.Landlord() >= 0 {
		st.Kitty = cardBytes(g.Kitty())
	}
	if seat, c, ok := g.LastPlay(); ok {
		st.LastPlaySeat, st.LastPlay, st.LastCombo = int32(seat), cardBytes(c.Cards), comboOf(c)
	}
	st.Bid = int32(g.CurrentBid())
	st.DeadlineUnixMs = t.deadline.UnixMilli()
	st.GameId, st.DealCommitment = t.log.id, t.log.commitment[:]
	return st
}

func cardBytes(cs []doudizhu.Card) []byte {
	b := make([]byte, len(cs))
	for i, c := range cs {
		b[i] = byte(c)
	}
	return b
}

// autoMove plays for an absent or slow player with the rules package's
// strategy, falling back to its minimal AutoMove. If every seat is absent,
// passing bids would redeal forever, so after two redeals the last bidder
// takes the game at 1.
func autoMove(g *doudizhu.Game, seat int) ([]doudizhu.Event, error) {
	if g.Phase() == doudizhu.PhaseBidding {
		b := doudizhu.SuggestBidFor(g, seat)
		if b == 0 && g.Redeals() >= 2 && g.CurrentBid() == 0 && seat == (g.FirstBidder()+seats-1)%seats {
			b = 1
		}
		if evs, err := g.Bid(seat, b); err == nil {
			return evs, nil
		}
		return g.AutoMove(seat)
	}
	if cards := doudizhu.SuggestPlay(g, seat); cards != nil {
		if evs, err := g.Play(seat, cards); err == nil {
			return evs, nil
		}
	}
	return g.AutoMove(seat)
}

// comboOf is the wire form of a played reading.
func comboOf(c doudizhu.Combo) *pb.Combo {
	return &pb.Combo{Kind: pb.ComboKind(c.Kind), Rank: int32(c.Rank), Length: int32(c.Length)}
}

// readingOf is the reading a client asked for.
func readingOf(c *pb.Combo) doudizhu.Reading {
	return doudizhu.Reading{Kind: doudizhu.Kind(c.Kind), Rank: doudizhu.Rank(c.Rank), Length: int(c.Length)}
}
