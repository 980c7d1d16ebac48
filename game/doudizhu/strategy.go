package doudizhu

// A simple, deterministic bot strategy: bid on high cards, lead the play
// that leaves the hand easiest to finish, follow with the cheapest combo
// that beats, keep bombs and the rocket for emergencies, and let the partner
// farmer's plays stand.

// SuggestBid rates a hand (17 cards, before the kitty) and returns the bid
// it is worth: 0 (pass) to 3. A seat may only bid above the current bid, so
// use SuggestBidFor with a Game.
func SuggestBid(hand []Card) int {
	h := newHandIndex(hand)
	score := 0
	score += 4 * int(h.cnt[RankRedJoker])
	score += 3 * int(h.cnt[RankBlackJoker])
	score += 2 * int(h.cnt[RankTwo])
	score += int(h.cnt[RankAce]) / 2
	for r := Rank(0); r <= RankTwo; r++ {
		if h.cnt[r] == 4 {
			score += 4
		}
	}
	if h.cnt[RankRedJoker] == 1 && h.cnt[RankBlackJoker] == 1 {
		score += 2 // the rocket is worth more than its parts
	}
	// A hand with few groups is quick to play out.
	if est := estimatePlays(&h.cnt); est <= 6 {
		score += 2
	}
	switch {
	case score >= 11:
		return 3
	case score >= 8:
		return 2
	case score >= 6:
		return 1
	}
	return 0
}

// SuggestBidFor is SuggestBid made legal for seat in g: the suggestion if it
// exceeds the current bid, else 0 (pass).
func SuggestBidFor(g *Game, seat int) int {
	b := SuggestBid(g.Hand(seat))
	if b > g.CurrentBid() {
		return b
	}
	return 0
}

// SuggestPlay returns a legal play for seat, which must be the seat to act
// in the playing phase (else nil); nil also means pass. It leads the combo
// that leaves the fewest plays (lowest ranks first), follows with the
// cheapest combo that beats without breaking a bomb, passes on the partner
// farmer's plays unless it can go out, and spends bombs and the rocket only
// when an opponent is close to going out or it nearly wins with them.
func SuggestPlay(g *Game, seat int) []Card {
	if g.Phase() != PhasePlaying || g.Turn() != seat {
		return nil
	}
	hand := g.Hand(seat)
	lastSeat, prev, following := g.LastPlay()
	landlord := g.Landlord()

	// Going out in one play always wins.
	if c, err := ClassifyBeating(hand, prev); err == nil {
		return c.Cards
	}
	h := newHandIndex(hand)
	minOpp := 99 // fewest cards held by an opponent
	for s := 0; s < Seats; s++ {
		if s != seat && (s == landlord || seat == landlord) && g.HandSize(s) < minOpp {
			minOpp = g.HandSize(s)
		}
	}
	if following && seat != landlord && lastSeat != landlord {
		return nil // the partner is winning this trick; let it stand
	}

	moves := LegalMoves(hand, prev)
	estNow := estimatePlays(&h.cnt)
	best, bestBomb := -1, -1
	var bestKey [3]int
	for i, m := range moves {
		if breaksBomb(&h, m) {
			continue
		}
		if isBombLike(m.Kind) {
			if bestBomb < 0 || m.Kind < moves[bestBomb].Kind || (m.Kind == moves[bestBomb].Kind && m.Rank < moves[bestBomb].Rank) {
				bestBomb = i
			}
			continue
		}
		after := h.cnt
		sum := 0
		for _, c := range m.Cards {
			after[c.Rank()]--
			sum += int(c.Rank())
		}
		key := [3]int{estimatePlays(&after), int(m.Rank), sum}
		if !following && minOpp == 1 && m.Kind == Single {
			// Do not feed an opponent with one card a low single.
			key[0] += 10
			key[1] = -key[1]
		}
		if best < 0 || less(key, bestKey) {
			best, bestKey = i, key
		}
	}
	urgent := minOpp <= 4
	if best >= 0 {
		if !following || bestKey[0] < estNow || urgent ||
			(bestKey[0] == estNow && moves[best].Rank < RankAce && minOpp <= 10) {
			return moves[best].Cards
		}
		return nil
	}
	if bestBomb >= 0 {
		b := moves[bestBomb]
		after := h.cnt
		for _, c := range b.Cards {
			after[c.Rank()]--
		}
		if !following || urgent || estimatePlays(&after) <= 2 {
			return b.Cards
		}
		return nil
	}
	if !following {
		// Only bomb-breaking leads remain (e.g. a bomb plus a joker): any
		// lead will do; take the lowest card.
		return hand[:1]
	}
	return nil
}

func less(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func isBombLike(k Kind) bool {
	return k == Bomb || k == Rocket || k == FourTwoSingles || k == FourTwoPairs
}

// breaksBomb reports whether m uses part of a bomb or one joker of the rocket.
func breaksBomb(h *handIndex, m Combo) bool {
	var used [NumRanks]uint8
	for _, c := range m.Cards {
		used[c.Rank()]++
	}
	for r := Rank(0); r <= RankTwo; r++ {
		if h.cnt[r] == 4 && used[r] > 0 && used[r] < 4 {
			return true
		}
	}
	rocket := h.cnt[RankBlackJoker] == 1 && h.cnt[RankRedJoker] == 1
	return rocket && used[RankBlackJoker]+used[RankRedJoker] == 1
}

// estimatePlays is a rough count of the plays needed to empty a hand with
// rank counts cnt: one per rank group, triples carrying a single or pair,
// runs of singles and pairs going out as straights.
func estimatePlays(cnt *[NumRanks]uint8) int {
	var ones, twos, threes, fours int
	for r := Rank(0); r < NumRanks; r++ {
		switch cnt[r] {
		case 1:
			ones++
		case 2:
			twos++
		case 3:
			threes++
		case 4:
			fours++
		}
	}
	if cnt[RankBlackJoker] == 1 && cnt[RankRedJoker] == 1 {
		ones-- // the rocket is one play
	}
	n := ones + twos + threes + fours
	n -= min(threes, ones+twos)
	// Runs over 3..A: singles in a 5+ run go out together, as do pairs in a
	// 3+ run of pairs, and consecutive triples fly together.
	run1, runOnes, run2, run3 := 0, 0, 0, 0
	flush := func() {
		if run1 >= 5 && runOnes >= 2 {
			n -= runOnes - 1
		}
		run1, runOnes = 0, 0
	}
	for r := Rank(0); r <= RankAce+1; r++ {
		c := uint8(0)
		if r <= RankAce {
			c = cnt[r]
		}
		if c >= 1 && c < 4 {
			run1++
			if c == 1 {
				runOnes++
			}
		} else {
			flush()
		}
		if c == 2 {
			run2++
		} else {
			if run2 >= 3 {
				n -= run2 - 1
			}
			run2 = 0
		}
		if c == 3 {
			run3++
		} else {
			if run3 >= 2 {
				n -= run3 - 1
			}
			run3 = 0
		}
	}
	if ones+twos+threes+fours == 0 {
		return 0
	}
	return max(n, 1)
}
