// Package roomreport is the format of a shard's per-room report: the game
// server writes it to its GameServer's annotation Annotation through the
// Agones SDK at its report cadence, and the operator mirrors it into the
// RoomShard's status. JSON, so that a person reading the GameServer can read
// it too, and a newer game server may add fields an older operator ignores.
package roomreport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Key is the Agones SDK metadata key the game server reports under
// (PUT /metadata/annotation); Agones stores it on the GameServer as the
// annotation Annotation.
const Key = "rooms"

// Annotation is the GameServer annotation that carries the report (Agones
// prefixes SDK keys with "agones.dev/sdk-").
const Annotation = "agones.dev/sdk-" + Key

// MaxBytes bounds the annotation a decoder accepts: 1,000 rooms of 4-digit
// counts fit with room to spare.
const MaxBytes = 16 << 10

// MaxRooms is the most rooms one report may list.
const MaxRooms = 1000

// Report is a shard's occupancy per room: Players[i] players in room
// FirstRoom+i, each room seating Capacity.
type Report struct {
	FirstRoom int32   `json:"firstRoom"`
	Capacity  int32   `json:"capacity"`
	Players   []int32 `json:"players"`
}

// Encode is the annotation value.
func (r Report) Encode() string {
	b, _ := json.Marshal(r) // integers only: cannot fail
	return string(b)
}

// Parse decodes an annotation value written by a game server, which the
// operator does not trust: one JSON object of at most MaxBytes, with at most
// MaxRooms rooms, a first room and a capacity of at least 1, and every count
// within [0, capacity]. Unknown fields are ignored.
func Parse(s string) (Report, error) {
	if len(s) > MaxBytes {
		return Report{}, fmt.Errorf("room report is %d bytes, more than %d", len(s), MaxBytes)
	}
	var r Report
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if err := dec.Decode(&r); err != nil {
		return Report{}, fmt.Errorf("room report is not a JSON object of firstRoom, capacity and players: %w", err)
	}
	if dec.More() {
		return Report{}, errors.New("room report has data after its JSON object")
	}
	switch {
	case r.FirstRoom < 1:
		return Report{}, fmt.Errorf("room report: firstRoom %d is below 1", r.FirstRoom)
	case r.Capacity < 1:
		return Report{}, fmt.Errorf("room report: capacity %d is below 1", r.Capacity)
	case len(r.Players) > MaxRooms:
		return Report{}, fmt.Errorf("room report lists %d rooms, more than %d", len(r.Players), MaxRooms)
	case int64(r.FirstRoom)+int64(len(r.Players)) > 1<<31-1:
		return Report{}, fmt.Errorf("room report: rooms from %d overflow", r.FirstRoom)
	}
	for i, n := range r.Players {
		if n < 0 || n > r.Capacity {
			return Report{}, fmt.Errorf("room report: room %d has %d players, outside 0..%d", int64(r.FirstRoom)+int64(i), n, r.Capacity)
		}
	}
	return r, nil
}
