package doudizhu_test

import (
	"fmt"

	"github.com/gamehall/gamehall/game/doudizhu"
)

func ExampleClassify() {
	for _, s := range []string{"3 3 3 4 4 4 7 9", "J Q K A 2", "6 6 6 6 BJ RJ"} {
		cards, _ := doudizhu.ParseCards(s)
		c, err := doudizhu.Classify(cards)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(c)
	}
	// Output:
	// airplane+singles×2 from 3 [3♠ 3♥ 3♣ 4♠ 4♥ 4♣ 7♠ 9♠]
	// doudizhu: not a legal combination: J♠ Q♠ K♠ A♠ 2♠: 2s and jokers cannot be part of a straight, pair straight or airplane
	// doudizhu: not a legal combination: 6♠ 6♥ 6♣ 6♦ BJ RJ: the rocket cannot be a wing
}

// A table loop: bots bid and play until the game is over; the events are
// what a table would broadcast.
func ExampleGame() {
	g := doudizhu.NewGame(2026, 0)
	for g.Phase() != doudizhu.PhaseOver {
		seat := g.Turn()
		var evs []doudizhu.Event
		var err error
		if g.Phase() == doudizhu.PhaseBidding {
			evs, err = g.Bid(seat, doudizhu.SuggestBidFor(g, seat))
		} else {
			evs, err = g.Play(seat, doudizhu.SuggestPlay(g, seat))
		}
		if err != nil {
			panic(err)
		}
		for _, e := range evs {
			if e.Kind == doudizhu.LandlordChosen {
				fmt.Printf("landlord: seat %d at %d\n", e.Seat, e.Bid)
			}
		}
	}
	r, _ := g.Result()
	fmt.Printf("winner: seat %d, landlord won: %v, multiplier %d, scores %v\n", r.Winner, r.LandlordWon, r.Multiplier, r.Scores)
	// Output:
	// landlord: seat 0 at 2
	// winner: seat 0, landlord won: true, multiplier 2, scores [4 -2 -2]
}
