package doudizhu

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Seats is the number of players at a Dou Dizhu table.
const Seats = 3

// Phase is the stage of a game.
type Phase int

// The phases of a game.
const (
	PhaseBidding Phase = iota
	PhasePlaying
	PhaseOver
)

func (p Phase) String() string {
	switch p {
	case PhaseBidding:
		return "bidding"
	case PhasePlaying:
		return "playing"
	case PhaseOver:
		return "over"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// EventKind says what an Event reports.
type EventKind int

// The event kinds.
const (
	_ EventKind = iota
	// Dealt: Seat was dealt Cards (17). Private to that seat.
	Dealt
	// BidMade: Seat bid Bid (0 = pass).
	BidMade
	// Redeal: everyone passed; the cards are dealt again (Dealt events
	// follow) and Seat bids first.
	Redeal
	// LandlordChosen: Seat is the landlord at Bid; Cards is the kitty (public),
	// now in the landlord's hand. The landlord leads.
	LandlordChosen
	// Played: Seat played Cards, classified as Combo.
	Played
	// Passed: Seat passed. NewLead is set when this was the second pass in a
	// row, so the table is cleared and Next leads anew.
	Passed
	// GameOver: Seat emptied its hand; Result is the outcome.
	GameOver
)

func (k EventKind) String() string {
	switch k {
	case Dealt:
		return "dealt"
	case BidMade:
		return "bid"
	case Redeal:
		return "redeal"
	case LandlordChosen:
		return "landlord"
	case Played:
		return "played"
	case Passed:
		return "passed"
	case GameOver:
		return "gameover"
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event is one thing that happened, in order, for the table to broadcast.
// Cards of a Dealt event are private to Seat; everything else is public.
// Slices in events are owned by the event (the Game keeps no reference).
type Event struct {
	Kind       EventKind
	Seat       int
	Bid        int
	Cards      []Card
	Combo      Combo   // Played
	NewLead    bool    // Passed
	Result     *Result // GameOver
	Multiplier int     // the game's multiplier after this event
	Next       int     // seat to act after this batch of events; -1 when the game is over
}

// Result is the outcome of a finished game. Scores are zero-sum: the
// landlord wins or loses 2×Multiplier, each farmer the opposite Multiplier.
type Result struct {
	Winner      int  // seat that emptied its hand
	Landlord    int  // the landlord's seat
	LandlordWon bool // Winner == Landlord
	Spring      bool // landlord won and the farmers never played a card
	AntiSpring  bool // farmers won and the landlord played only its first lead
	Bombs       int  // bombs and rockets played
	Bid         int
	Multiplier  int // Bid × 2^Bombs × 2 if Spring or AntiSpring
	Scores      [Seats]int
}

// Errors of Bid, Play and AutoMove (wrapped with details). Classification
// failures wrap ErrIllegal or ErrDoesNotBeat.
var (
	ErrWrongPhase  = errors.New("doudizhu: not allowed in this phase")
	ErrNotYourTurn = errors.New("doudizhu: not this seat's turn")
	ErrBadSeat     = errors.New("doudizhu: no such seat")
	ErrBadBid      = errors.New("doudizhu: invalid bid")
	ErrNotInHand   = errors.New("doudizhu: card not in hand")
	ErrMustLead    = errors.New("doudizhu: the leader cannot pass")
)

// Game is one deal of Dou Dizhu, from bidding to the result. It is
// deterministic for a seed. Not safe for concurrent use.
type Game struct {
	rng         shuffler
	phase       Phase
	turn        int
	firstBidder int
	redeals     int

	hands  [Seats][]Card // sorted
	kitty  [3]Card
	played []Card // every card played so far, in order

	bids     [Seats]int
	nbids    int
	highBid  int
	highSeat int

	landlord int
	bombs    int
	plays    [Seats]int // non-pass plays per seat (spring detection)

	hasLast  bool // a combo is on the table to beat
	last     Combo
	lastSeat int
	passes   int // consecutive passes since the last play

	result Result
}

// shuffler shuffles the deck; *rand.Rand and the fair deal stream are two.
type shuffler interface {
	Shuffle(n int, swap func(i, j int))
}

// NewGame shuffles with seed and deals 17 cards to each seat and 3 to the
// kitty; firstBidder (taken modulo 3) bids first. Dealt() gives the deal's
// events. Tests and tools use it; tables deal with NewFairGame.
func NewGame(seed int64, firstBidder int) *Game {
	return newGame(rand.New(rand.NewPCG(uint64(seed), 0x646f7564697a6875)), firstBidder) // "doudizhu"
}

// NewFairGame deals from a secret seed whose Commitment the players get
// before the first bid; after the game the seed proves the deals (Deals).
func NewFairGame(seed Seed, firstBidder int) *Game {
	return newGame(newDealStream(seed), firstBidder)
}

func newGame(rng shuffler, firstBidder int) *Game {
	g := &Game{
		rng:         rng,
		firstBidder: ((firstBidder % Seats) + Seats) % Seats,
		landlord:    -1,
		lastSeat:    -1,
		played:      make([]Card, 0, DeckSize),
	}
	g.deal()
	return g
}

func (g *Game) deal() {
	d := dealFrom(g.rng)
	for s := 0; s < Seats; s++ {
		h := make([]Card, 17, 20) // room for the kitty
		copy(h, d.Hands[s][:])
		g.hands[s] = h
	}
	g.kitty = d.Kitty
	g.phase = PhaseBidding
	g.turn = g.firstBidder
	g.bids = [Seats]int{}
	g.nbids, g.highBid, g.highSeat = 0, 0, -1
}

// Dealt returns the Dealt events of the current deal (one per seat; each
// event's Cards are private to its seat).
func (g *Game) Dealt() []Event {
	evs := make([]Event, 0, Seats)
	for s := 0; s < Seats; s++ {
		evs = append(evs, Event{Kind: Dealt, Seat: s, Cards: slices.Clone(g.hands[s]), Multiplier: g.Multiplier(), Next: g.Turn()})
	}
	return evs
}

// Phase is the current phase.
func (g *Game) Phase() Phase { return g.phase }

// Turn is the seat to act, or -1 when the game is over.
func (g *Game) Turn() int {
	if g.phase == PhaseOver {
		return -1
	}
	return g.turn
}

// Hand returns a sorted copy of seat's cards (nil for an invalid seat).
func (g *Game) Hand(seat int) []Card {
	if seat < 0 || seat >= Seats {
		return nil
	}
	return slices.Clone(g.hands[seat])
}

// HandSize is the number of cards seat holds (public information).
func (g *Game) HandSize(seat int) int {
	if seat < 0 || seat >= Seats {
		return 0
	}
	return len(g.hands[seat])
}

// Played returns every card played so far, in play order.
func (g *Game) Played() []Card { return slices.Clone(g.played) }

// Landlord is the landlord's seat, or -1 while bidding.
func (g *Game) Landlord() int { return g.landlord }

// Kitty returns the three kitty cards once the landlord is chosen (they are
// then public), nil while bidding.
func (g *Game) Kitty() []Card {
	if g.landlord < 0 {
		return nil
	}
	return slices.Clone(g.kitty[:])
}

// CurrentBid is the highest bid so far (0 if none); after bidding, the
// game's base score. (Named CurrentBid because Bid is the bidding action.)
func (g *Game) CurrentBid() int { return g.highBid }

// Redeals counts how many times everyone passed and the cards were dealt
// again. Tables may give up on a game after a few.
func (g *Game) Redeals() int { return g.redeals }

// FirstBidder is the seat that bids first in the current deal.
func (g *Game) FirstBidder() int { return g.firstBidder }

// Multiplier is the current multiplier: bid × 2^(bombs and rockets played),
// doubled once the game ends in a spring or anti-spring. 0 before any bid.
func (g *Game) Multiplier() int {
	if g.phase == PhaseOver {
		return g.result.Multiplier
	}
	return g.highBid << g.bombs
}

// Bombs counts the bombs and rockets played so far.
func (g *Game) Bombs() int { return g.bombs }

// LastPlay returns the combo to beat and who played it; ok is false when the
// seat to act leads (start of play, after two passes, or game over).
func (g *Game) LastPlay() (seat int, c Combo, ok bool) {
	if !g.hasLast || g.phase != PhasePlaying {
		return -1, Combo{}, false
	}
	c = g.last
	c.Cards = slices.Clone(c.Cards)
	return g.lastSeat, c, true
}

// Result returns the outcome once the game is over.
func (g *Game) Result() (Result, bool) {
	return g.result, g.phase == PhaseOver
}

func (g *Game) check(seat int, want Phase) error {
	if seat < 0 || seat >= Seats {
		return fmt.Errorf("%w: %d (seats are 0..2)", ErrBadSeat, seat)
	}
	if g.phase != want {
		return fmt.Errorf("%w: the game is %s", ErrWrongPhase, g.phase)
	}
	if seat != g.turn {
		return fmt.Errorf("%w: seat %d acts, not %d", ErrNotYourTurn, g.turn, seat)
	}
	return nil
}

// Bid makes seat's bid: 0 passes, 1..3 must exceed the highest bid so far.
// Each seat bids once, in turn from the first bidder; a 3 ends bidding at
// once. After three bids the highest bidder becomes landlord, takes the
// kitty and leads; if all passed, the cards are dealt again and the next seat
// bids first (a Redeal event and three Dealt events say so).
func (g *Game) Bid(seat, bid int) ([]Event, error) {
	if err := g.check(seat, PhaseBidding); err != nil {
		return nil, err
	}
	if bid < 0 || bid > 3 {
		return nil, fmt.Errorf("%w: %d (want 0 to pass, or 1..3)", ErrBadBid, bid)
	}
	if bid > 0 && bid <= g.highBid {
		return nil, fmt.Errorf("%w: %d does not exceed the current bid %d", ErrBadBid, bid, g.highBid)
	}
	g.bids[seat] = bid
	g.nbids++
	if bid > g.highBid {
		g.highBid, g.highSeat = bid, seat
	}
	evs := []Event{{Kind: BidMade, Seat: seat, Bid: bid}}
	switch {
	case bid == 3 || (g.nbids == Seats && g.highBid > 0):
		g.landlord = g.highSeat
		g.hands[g.landlord] = append(g.hands[g.landlord], g.kitty[:]...)
		slices.Sort(g.hands[g.landlord])
		g.phase = PhasePlaying
		g.turn = g.landlord
		evs = append(evs, Event{Kind: LandlordChosen, Seat: g.landlord, Bid: g.highBid, Cards: slices.Clone(g.kitty[:])})
	case g.nbids == Seats:
		g.redeals++
		g.firstBidder = (g.firstBidder + 1) % Seats
		g.deal()
		evs = append(evs, Event{Kind: Redeal, Seat: g.firstBidder})
		evs = append(evs, g.Dealt()...)
	default:
		g.turn = (g.turn + 1) % Seats
	}
	return g.stamp(evs), nil
}

// stamp fills the fields every event of a batch shares.
func (g *Game) stamp(evs []Event) []Event {
	m, next := g.Multiplier(), g.Turn()
	for i := range evs {
		evs[i].Multiplier = m
		evs[i].Next = next
	}
	return evs
}

// Play plays cards from seat's hand; no cards passes, which the leader may
// not do. The cards must form a combination that beats the last play (when
// several readings exist, the strongest reading that beats it is used).
// Two passes in a row give the lead back to the last player; emptying the
// hand ends the game.
func (g *Game) Play(seat int, cards []Card) ([]Event, error) {
	return g.play(seat, cards, nil)
}

// PlayAs is Play with the reading the player chose for cards (see
// ClassifyAs): the next plays must beat that reading.
func (g *Game) PlayAs(seat int, cards []Card, want Reading) ([]Event, error) {
	return g.play(seat, cards, &want)
}

func (g *Game) play(seat int, cards []Card, want *Reading) ([]Event, error) {
	if err := g.check(seat, PhasePlaying); err != nil {
		return nil, err
	}
	if len(cards) == 0 {
		if !g.hasLast {
			return nil, fmt.Errorf("%w: seat %d leads and must play", ErrMustLead, seat)
		}
		g.passes++
		g.turn = (g.turn + 1) % Seats
		ev := Event{Kind: Passed, Seat: seat}
		if g.passes == Seats-1 {
			g.hasLast, g.passes = false, 0
			ev.NewLead = true
		}
		return g.stamp([]Event{ev}), nil
	}
	var hand uint64
	for _, c := range g.hands[seat] {
		hand |= 1 << c
	}
	for _, c := range cards {
		if !c.Valid() || hand&(1<<c) == 0 {
			return nil, fmt.Errorf("%w: seat %d does not hold %s", ErrNotInHand, seat, c)
		}
	}
	var prev Combo
	if g.hasLast {
		prev = g.last
	}
	var combo Combo
	var err error
	if want != nil {
		combo, err = ClassifyAs(cards, *want, prev)
	} else {
		combo, err = ClassifyBeating(cards, prev)
	}
	if err != nil {
		return nil, err
	}
	own := slices.Clone(cards)
	slices.Sort(own)
	combo.Cards = own
	g.hands[seat] = slices.DeleteFunc(g.hands[seat], func(c Card) bool {
		_, found := slices.BinarySearch(own, c)
		return found
	})
	g.played = append(g.played, own...)
	if combo.Kind == Bomb || combo.Kind == Rocket {
		g.bombs++
	}
	g.plays[seat]++
	g.last, g.lastSeat, g.hasLast, g.passes = combo, seat, true, 0
	evs := []Event{{Kind: Played, Seat: seat, Cards: slices.Clone(own), Combo: cloneCombo(combo)}}
	if len(g.hands[seat]) == 0 {
		g.finish(seat)
		r := g.result
		evs = append(evs, Event{Kind: GameOver, Seat: seat, Result: &r})
	} else {
		g.turn = (g.turn + 1) % Seats
	}
	return g.stamp(evs), nil
}

func cloneCombo(c Combo) Combo {
	c.Cards = slices.Clone(c.Cards)
	return c
}

func (g *Game) finish(winner int) {
	r := Result{Winner: winner, Landlord: g.landlord, LandlordWon: winner == g.landlord, Bombs: g.bombs, Bid: g.highBid}
	farmersPlayed := 0
	for s := 0; s < Seats; s++ {
		if s != g.landlord {
			farmersPlayed += g.plays[s]
		}
	}
	r.Spring = r.LandlordWon && farmersPlayed == 0
	r.AntiSpring = !r.LandlordWon && g.plays[g.landlord] == 1
	r.Multiplier = g.highBid << g.bombs
	if r.Spring || r.AntiSpring {
		r.Multiplier *= 2
	}
	for s := 0; s < Seats; s++ {
		switch {
		case s == g.landlord && r.LandlordWon:
			r.Scores[s] = 2 * r.Multiplier
		case s == g.landlord:
			r.Scores[s] = -2 * r.Multiplier
		case r.LandlordWon:
			r.Scores[s] = -r.Multiplier
		default:
			r.Scores[s] = r.Multiplier
		}
	}
	g.result = r
	g.phase = PhaseOver
	g.hasLast = false
}

// AutoMove is the turn timer's move for seat: during bidding a pass; during
// play a pass when passing is allowed, else the lowest single card.
func (g *Game) AutoMove(seat int) ([]Event, error) {
	if seat < 0 || seat >= Seats {
		return nil, fmt.Errorf("%w: %d (seats are 0..2)", ErrBadSeat, seat)
	}
	switch g.phase {
	case PhaseBidding:
		return g.Bid(seat, 0)
	case PhasePlaying:
		if err := g.check(seat, PhasePlaying); err != nil {
			return nil, err
		}
		if g.hasLast {
			return g.Play(seat, nil)
		}
		return g.Play(seat, []Card{g.hands[seat][0]})
	}
	return nil, fmt.Errorf("%w: the game is over", ErrWrongPhase)
}
