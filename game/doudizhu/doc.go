// Package doudizhu implements the rules of three-player Dou Dizhu (斗地主):
// cards, combinations, beating, bidding, play, scoring, and a simple bot
// strategy. It is pure: no I/O, no clocks, no goroutines; a Game is not safe
// for concurrent use (the table goroutine owns it).
//
// # Rules as implemented
//
// Deal: 54 cards, 17 to each seat, 3 to the kitty (NewGame, deterministic
// for a seed). Bidding: in turn from the first bidder each seat bids once,
// 0 (pass) or 1..3 above the highest bid; a 3 ends bidding at once; after
// three bids the highest bidder is landlord, takes the kitty (then public)
// and leads. If all three pass the cards are dealt again and the next seat
// bids first (Redeal event); Game.Redeals counts these so a table can give up.
//
// Combinations (Classify): single; pair; triple; triple+single; triple+pair;
// straight of 5..12 ranks up to A; 3+ consecutive pairs; airplane of 2+
// consecutive triples without wings, with one single per triple, or with one
// pair per triple; four with two singles or two pairs; bomb; rocket. 2s and
// jokers are never part of a sequence (they may be wings). House-rule
// choices:
//   - a rank is never split between body and wings (3333 is a bomb, not
//     333+3; 3333 444 555 is no airplane with wings);
//   - wings never contain a bomb (four of a rank) or the rocket, so 5555 6666
//     and 6666 BJ RJ are illegal; single wings may be a pair (333444+55,
//     6666+55);
//   - a set with several readings (333444555666: airplane of four, or
//     airplane+singles from 3 or from 4) is played as the strongest reading
//     that beats the previous play; when leading, as the strongest reading
//     (highest main rank, then longer sequence, then later Kind).
//
// Beating (Beats): same kind and length with a higher main rank; a bomb
// beats any non-bomb and lower bombs; the rocket beats everything. Two passes
// after a play give the lead back to whoever made it. The leader cannot pass.
//
// Scoring (Result): multiplier = bid × 2^(bombs+rockets) × 2 on a spring
// (landlord won, farmers never played a card) or anti-spring (farmers won,
// the landlord played only its first lead). Landlord wins: +2m, each farmer
// −m; farmers win: landlord −2m, each farmer +m. Always zero-sum.
package doudizhu
