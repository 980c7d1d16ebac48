package bot

import (
	"github.com/gamehall/gamehall/game/doudizhu"
)

// Situation is what one seat knows when it must play: its own hand, the play
// to beat, who made it, who is landlord and how many cards each seat holds.
// A bot builds it from the server's events only (View).
type Situation struct {
	Hand      []doudizhu.Card
	Prev      doudizhu.Combo // KindNone when this seat leads
	LastSeat  int            // seat of Prev; -1 when leading
	MySeat    int
	Landlord  int
	CardsLeft [3]int
}

// ChooseBid bids what the hand is worth (doudizhu.SuggestBid) if that beats
// the current high bid, else passes (0).
func ChooseBid(hand []doudizhu.Card, high int) int {
	if b := doudizhu.SuggestBid(hand); b > high {
		return b
	}
	return 0
}

// ChoosePlay picks a legal play for s (nil = pass; never nil when leading).
// The strategy a casual player follows: go out when one play does it; let
// the partner farmer's play stand; follow with the cheapest play that beats,
// keeping bombs whole and 2s and jokers for later; lead the play that leaves
// the fewest groups in hand, low cards first; spend a bomb or the rocket
// only when an opponent is close to going out or it nearly wins the hand.
func ChoosePlay(s Situation) []doudizhu.Card {
	leading := s.Prev.Kind == doudizhu.KindNone
	moves := doudizhu.LegalMoves(s.Hand, s.Prev)
	if len(moves) == 0 {
		return nil
	}
	for _, m := range moves {
		if len(m.Cards) == len(s.Hand) {
			return m.Cards
		}
	}
	if !leading && s.MySeat != s.Landlord && s.LastSeat != s.Landlord {
		return nil // the partner farmer holds the trick
	}
	var cnt [15]int
	for _, c := range s.Hand {
		cnt[c.Rank()]++
	}
	minOpp := 99
	for seat := 0; seat < 3; seat++ {
		if seat != s.MySeat && (seat == s.Landlord || s.MySeat == s.Landlord) && s.CardsLeft[seat] < minOpp {
			minOpp = s.CardsLeft[seat]
		}
	}
	danger := minOpp <= 4

	best, bestScore := -1, 0
	bomb := -1
	for i, m := range moves {
		if m.Kind == doudizhu.Bomb || m.Kind == doudizhu.Rocket {
			if bomb < 0 || m.Kind < moves[bomb].Kind || (m.Kind == moves[bomb].Kind && m.Rank < moves[bomb].Rank) {
				bomb = i
			}
			continue
		}
		if breaksBomb(&cnt, m) {
			continue
		}
		high := usesHigh(m)
		if high && !leading && !danger && len(s.Hand) > 6 && m.Kind != doudizhu.Single && m.Kind != doudizhu.Pair {
			continue // no 2s or jokers as wings this early
		}
		score := 0
		if leading {
			// Fewest groups left first, then the lowest rank.
			score = groupsAfter(&cnt, m)*100 + int(m.Rank)
		} else {
			score = int(m.Rank) * 10
			if high && !danger && len(s.Hand) > 6 {
				score += 1000 // keep 2s and jokers while the hand is long
			}
		}
		if best < 0 || score < bestScore {
			best, bestScore = i, score
		}
	}
	if best >= 0 && (leading || bestScore < 1000 || danger || s.Landlord == s.MySeat) {
		return moves[best].Cards
	}
	if bomb >= 0 && (danger || len(s.Hand)-len(moves[bomb].Cards) <= 4) {
		return moves[bomb].Cards
	}
	if best >= 0 && bestScore >= 1000 && len(s.Hand) <= 10 {
		return moves[best].Cards
	}
	if leading { // only bombs or bomb-breaking plays left: play something
		if best >= 0 {
			return moves[best].Cards
		}
		return lowest(moves).Cards
	}
	return nil
}

// breaksBomb: m takes some but not all four cards of a rank.
func breaksBomb(cnt *[15]int, m doudizhu.Combo) bool {
	var used [15]int
	for _, c := range m.Cards {
		used[c.Rank()]++
	}
	for r, u := range used {
		if u > 0 && cnt[r] == 4 && u < 4 {
			return true
		}
	}
	// Splitting the rocket wastes it.
	return cnt[doudizhu.RankBlackJoker] == 1 && cnt[doudizhu.RankRedJoker] == 1 &&
		(used[doudizhu.RankBlackJoker] > 0) != (used[doudizhu.RankRedJoker] > 0)
}

func usesHigh(m doudizhu.Combo) bool {
	for _, c := range m.Cards {
		if c.Rank() >= doudizhu.RankTwo {
			return true
		}
	}
	return false
}

// groupsAfter estimates how many plays the hand needs after m: one per rank
// still held (a single, pair, triple or bomb each go in one play).
func groupsAfter(cnt *[15]int, m doudizhu.Combo) int {
	after := *cnt
	for _, c := range m.Cards {
		after[c.Rank()]--
	}
	n := 0
	for _, k := range after {
		if k > 0 {
			n++
		}
	}
	return n
}

func lowest(moves []doudizhu.Combo) doudizhu.Combo {
	best := moves[0]
	for _, m := range moves[1:] {
		if m.Rank < best.Rank || (m.Rank == best.Rank && len(m.Cards) < len(best.Cards)) {
			best = m
		}
	}
	return best
}
