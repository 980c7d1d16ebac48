package gameserver

import (
	"crypto/rand"
	"time"

	"github.com/gamehall/gamehall/game/doudizhu"
	"github.com/gamehall/gamehall/protocol/pb"
	"github.com/gamehall/gamehall/store"
)

// gameLog is what a table keeps of its running game for the record: the
// secret seed (revealed at the end), and every move in order.
type gameLog struct {
	id          string
	seed        doudizhu.Seed
	commitment  [32]byte
	started     time.Time
	firstBidder int
	moves       []*pb.RecordedMove
}

// newGameLog draws the game's secret seed (or takes the test's).
func newGameLog(cfg Config, firstBidder int, now time.Time) gameLog {
	l := gameLog{id: store.NewGameID(cfg.Region, now), started: now, firstBidder: firstBidder}
	if cfg.DealSeed != nil {
		l.seed = cfg.DealSeed()
	} else {
		rand.Read(l.seed[:])
	}
	l.commitment = doudizhu.Commitment(l.seed)
	return l
}

// note records a bid, redeal, play or pass.
func (l *gameLog) note(ev doudizhu.Event, auto bool) {
	m := &pb.RecordedMove{Seat: int32(ev.Seat), Auto: auto}
	switch ev.Kind {
	case doudizhu.BidMade:
		m.Kind, m.Bid = pb.GameEventKind_BID, int32(ev.Bid)
	case doudizhu.Redeal:
		m.Kind = pb.GameEventKind_REDEAL
	case doudizhu.Played:
		m.Kind, m.Cards = pb.GameEventKind_PLAY, cardBytes(ev.Cards)
	case doudizhu.Passed:
		m.Kind = pb.GameEventKind_PASS
	default:
		return
	}
	l.moves = append(l.moves, m)
}

// outcome is how a game ended: a result, or an escape.
type outcome struct {
	result  *doudizhu.Result // nil for an escape
	escaped int              // the seat that left, or -1
	scores  []int32
	bid     int
}

// recordLocked is the finished game's record.
func (t *table) recordLocked(accounts []string, o outcome, ended time.Time) *pb.GameRecord {
	l := &t.log
	cfg := t.room.s.cfg
	rec := &pb.GameRecord{
		GameId: l.id, Region: cfg.Region, Shard: cfg.Shard, Room: t.room.num, Table: t.num,
		Accounts: accounts, DealSeed: l.seed[:], DealCommitment: l.commitment[:], FirstBidder: int32(l.firstBidder),
		Moves: l.moves, Scores: o.scores, Landlord: int32(t.landlord), Winner: -1, Escaped: int32(o.escaped),
		Bid: int32(o.bid), StartedUnixMs: l.started.UnixMilli(), EndedUnixMs: ended.UnixMilli(),
	}
	if r := o.result; r != nil {
		rec.Winner, rec.Multiplier, rec.Spring, rec.AntiSpring, rec.Bombs = int32(r.Winner), int32(r.Multiplier), r.Spring, r.AntiSpring, int32(r.Bombs)
	} else if t.game != nil {
		rec.Multiplier, rec.Bombs = int32(max(t.game.Multiplier(), 1)), int32(t.game.Bombs())
	}
	return rec
}

// settlementOf turns a finished game into what the store pays out.
func (t *table) settlementOf(accounts []string, o outcome, rec []byte, ended time.Time) store.Settlement {
	st := store.Settlement{GameID: t.log.id, Region: t.room.s.cfg.Region, EndedAt: ended, Record: rec}
	for i, a := range accounts {
		role := store.RoleNone
		switch {
		case t.landlord == i:
			role = store.RoleLandlord
		case t.landlord >= 0:
			role = store.RoleFarmer
		}
		st.Seats = append(st.Seats, store.Seat{Account: a, Role: role, Delta: int64(o.scores[i])})
	}
	return st
}
