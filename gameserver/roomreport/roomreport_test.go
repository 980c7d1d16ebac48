package roomreport

import (
	"slices"
	"strings"
	"testing"
)

func TestEncodeParse(t *testing.T) {
	r := Report{FirstRoom: 951, Capacity: 400, Players: []int32{400, 12, 0}}
	s := r.Encode()
	if s != `{"firstRoom":951,"capacity":400,"players":[400,12,0]}` {
		t.Fatalf("Encode = %s", s)
	}
	got, err := Parse(s)
	if err != nil || got.FirstRoom != 951 || got.Capacity != 400 || !slices.Equal(got.Players, r.Players) {
		t.Fatalf("Parse(Encode) = %+v, %v", got, err)
	}
	if _, err := Parse(`{"firstRoom":1,"capacity":2,"players":[1],"tables":[3]}`); err != nil {
		t.Errorf("a newer field is refused: %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct{ in, errHas string }{
		{``, "not a JSON object"},
		{`null`, "firstRoom 0 is below 1"},
		{`[1,2]`, "not a JSON object"},
		{`{"firstRoom":1,"capacity":400,"players":[1]} {}`, "data after"},
		{`{"firstRoom":1,"capacity":0,"players":[]}`, "capacity 0 is below 1"},
		{`{"firstRoom":1,"capacity":400,"players":[401]}`, "room 1 has 401 players, outside 0..400"},
		{`{"firstRoom":7,"capacity":400,"players":[0,-1]}`, "room 8 has -1 players"},
		{`{"firstRoom":1,"capacity":400,"players":[1.5]}`, "not a JSON object"},
		{`{"firstRoom":1,"capacity":99999999999,"players":[]}`, "not a JSON object"},
		{`{"firstRoom":2147483647,"capacity":4,"players":[1,2]}`, "overflow"},
		{`{"firstRoom":1,"capacity":4,"players":[` + strings.Repeat("0,", 1000) + `0]}`, "1001 rooms, more than 1000"},
		{strings.Repeat(" ", MaxBytes+1), "more than 16384"},
	}
	for _, tt := range tests {
		if _, err := Parse(tt.in); err == nil || !strings.Contains(err.Error(), tt.errHas) {
			t.Errorf("Parse(%.60q) = %v, want an error with %q", tt.in, err, tt.errHas)
		}
	}
}

// FuzzParse: any accepted report is within its bounds and survives a round trip.
func FuzzParse(f *testing.F) {
	f.Add(`{"firstRoom":951,"capacity":400,"players":[400,12,0]}`)
	f.Add(`{"firstRoom":1,"capacity":1,"players":[]}`)
	f.Add(`{"players":[1e3]}`)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		if r.FirstRoom < 1 || r.Capacity < 1 || len(r.Players) > MaxRooms {
			t.Fatalf("accepted out of bounds: %+v", r)
		}
		for _, n := range r.Players {
			if n < 0 || n > r.Capacity {
				t.Fatalf("accepted count %d of capacity %d", n, r.Capacity)
			}
		}
		again, err := Parse(r.Encode())
		if err != nil || again.FirstRoom != r.FirstRoom || again.Capacity != r.Capacity || !slices.Equal(again.Players, r.Players) {
			t.Fatalf("round trip: %+v → %+v, %v", r, again, err)
		}
	})
}
