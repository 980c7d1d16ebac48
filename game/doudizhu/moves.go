package doudizhu

import "slices"

// handIndex locates each rank's cards in a sorted hand.
type handIndex struct {
	cards []Card // sorted
	cnt   [NumRanks]uint8
	start [NumRanks]uint8
}

func newHandIndex(hand []Card) handIndex {
	h := handIndex{cards: slices.Clone(hand)}
	slices.Sort(h.cards)
	for i := len(h.cards) - 1; i >= 0; i-- {
		r := h.cards[i].Rank()
		h.cnt[r]++
		h.start[r] = uint8(i)
	}
	return h
}

// take appends the k lowest-suited cards of rank r.
func (h *handIndex) take(dst []Card, r Rank, k int) []Card {
	s := int(h.start[r])
	return append(dst, h.cards[s:s+k]...)
}

// LegalMoves lists the plays hand can make on prev: every combination (at
// rank level; for each rank the lowest suits are used) that beats prev, or
// every combination at all when prev is the zero Combo (a lead). Passing is
// not listed. hand must hold valid, distinct cards.
func LegalMoves(hand []Card, prev Combo) []Combo {
	h := newHandIndex(hand)
	var out []Combo
	emit := func(kind Kind, rank Rank, length int, build func([]Card) []Card) {
		c := Combo{Kind: kind, Rank: rank, Length: length}
		if prev.Kind != KindNone && !Beats(c, prev) {
			return
		}
		c.Cards = build(make([]Card, 0, 8))
		out = append(out, c)
	}
	want := func(k Kind) bool {
		// Only generate kinds that could beat prev; bombs and the rocket always can.
		return prev.Kind == KindNone || prev.Kind == k || k == Bomb || k == Rocket
	}
	cnt := &h.cnt

	for r := Rank(0); r < NumRanks; r++ {
		c := int(cnt[r])
		if c >= 1 && want(Single) {
			emit(Single, r, 1, func(d []Card) []Card { return h.take(d, r, 1) })
		}
		if c >= 2 && want(Pair) {
			emit(Pair, r, 1, func(d []Card) []Card { return h.take(d, r, 2) })
		}
		if c >= 3 && want(Triple) {
			emit(Triple, r, 1, func(d []Card) []Card { return h.take(d, r, 3) })
		}
		if c >= 3 && want(TripleSingle) {
			for w := Rank(0); w < NumRanks; w++ {
				if w != r && cnt[w] >= 1 {
					emit(TripleSingle, r, 1, func(d []Card) []Card { return h.take(h.take(d, r, 3), w, 1) })
				}
			}
		}
		if c >= 3 && want(TriplePair) {
			for w := Rank(0); w <= RankTwo; w++ {
				if w != r && cnt[w] >= 2 {
					emit(TriplePair, r, 1, func(d []Card) []Card { return h.take(h.take(d, r, 3), w, 2) })
				}
			}
		}
		if c == 4 {
			if want(Bomb) {
				emit(Bomb, r, 1, func(d []Card) []Card { return h.take(d, r, 4) })
			}
			if want(FourTwoSingles) {
				for a := Rank(0); a < NumRanks; a++ {
					for b := a; b < NumRanks; b++ {
						if a == r || b == r || cnt[a] == 0 || cnt[b] == 0 || (a == b && cnt[a] < 2) ||
							(a == RankBlackJoker && b == RankRedJoker) {
							continue
						}
						emit(FourTwoSingles, r, 1, func(d []Card) []Card {
							d = h.take(d, r, 4)
							if a == b {
								return h.take(d, a, 2)
							}
							return h.take(h.take(d, a, 1), b, 1)
						})
					}
				}
			}
			if want(FourTwoPairs) {
				for a := Rank(0); a <= RankTwo; a++ {
					for b := a + 1; b <= RankTwo; b++ {
						if a == r || b == r || cnt[a] < 2 || cnt[b] < 2 {
							continue
						}
						emit(FourTwoPairs, r, 1, func(d []Card) []Card { return h.take(h.take(h.take(d, r, 4), a, 2), b, 2) })
					}
				}
			}
		}
	}
	if cnt[RankBlackJoker] == 1 && cnt[RankRedJoker] == 1 && want(Rocket) {
		emit(Rocket, RankRedJoker, 1, func(d []Card) []Card {
			return h.take(h.take(d, RankBlackJoker, 1), RankRedJoker, 1)
		})
	}

	// Sequences: for each start s and length L over ranks 3..A.
	seq := func(kind Kind, per, minLen int) {
		if !want(kind) {
			return
		}
		for s := Rank(0); s <= RankAce; s++ {
			for L := 1; int(s)+L-1 <= int(RankAce) && int(cnt[s+Rank(L)-1]) >= per; L++ {
				if L < minLen || (kind == Straight && L > 12) {
					continue
				}
				emit(kind, s, L, func(d []Card) []Card {
					for r := s; r < s+Rank(L); r++ {
						d = h.take(d, r, per)
					}
					return d
				})
			}
		}
	}
	seq(Straight, 1, 5)
	seq(PairStraight, 2, 3)
	seq(Airplane, 3, 2)

	// Airplanes with wings.
	if want(AirplaneSingles) || want(AirplanePairs) {
		for s := Rank(0); s <= RankAce; s++ {
			for L := 1; int(s)+L-1 <= int(RankAce) && cnt[s+Rank(L)-1] >= 3; L++ {
				if L < 2 {
					continue
				}
				inBody := func(r Rank) bool { return r >= s && r < s+Rank(L) }
				body := func(d []Card) []Card {
					for r := s; r < s+Rank(L); r++ {
						d = h.take(d, r, 3)
					}
					return d
				}
				if want(AirplaneSingles) && (prev.Kind == KindNone || prev.Length == L) {
					// multisets of L wing cards from ranks outside the body,
					// at most 3 per rank, never both jokers
					var wings [NumRanks]uint8
					var rec func(from Rank, left int)
					rec = func(from Rank, left int) {
						if left == 0 {
							if wings[RankBlackJoker] == 1 && wings[RankRedJoker] == 1 {
								return
							}
							w := wings
							emit(AirplaneSingles, s, L, func(d []Card) []Card {
								d = body(d)
								for r := Rank(0); r < NumRanks; r++ {
									d = h.take(d, r, int(w[r]))
								}
								return d
							})
							return
						}
						for r := from; r < NumRanks; r++ {
							if inBody(r) || wings[r] >= cnt[r] || wings[r] >= 3 {
								continue
							}
							wings[r]++
							rec(r, left-1)
							wings[r]--
						}
					}
					rec(0, L)
				}
				if want(AirplanePairs) && (prev.Kind == KindNone || prev.Length == L) {
					var pick []Rank
					var rec func(from Rank)
					rec = func(from Rank) {
						if len(pick) == L {
							p := slices.Clone(pick)
							emit(AirplanePairs, s, L, func(d []Card) []Card {
								d = body(d)
								for _, r := range p {
									d = h.take(d, r, 2)
								}
								return d
							})
							return
						}
						for r := from; r <= RankTwo; r++ {
							if inBody(r) || cnt[r] < 2 {
								continue
							}
							pick = append(pick, r)
							rec(r + 1)
							pick = pick[:len(pick)-1]
						}
					}
					rec(0)
				}
			}
		}
	}
	return out
}
