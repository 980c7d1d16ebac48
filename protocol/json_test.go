package protocol

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gamehall/gamehall/protocol/pb"
)

func TestJSONRoundTrip(t *testing.T) {
	in := &pb.Envelope{Seq: 3, Msg: &pb.Envelope_GameEvent{GameEvent: &pb.GameEvent{
		Table: 0, MoveNo: 9, Kind: pb.GameEventKind_PLAY, Seat: 0, Cards: []byte{0, 1, 2, 52},
		Combo: &pb.Combo{Kind: pb.ComboKind_COMBO_AIRPLANE, Rank: 0, Length: 4}, DeadlineUnixMs: 1700000000000,
	}}}
	j, err := FrameToJSON(MustMarshal(in))
	if err != nil {
		t.Fatal(err)
	}
	// Zero scalars are written: a browser reads seat 0 as seat 0.
	for _, want := range []string{`"seat":0`, `"kind":"PLAY"`, `"kind":"COMBO_AIRPLANE"`, `"cards":"AAECNA=="`, `"deadlineUnixMs":"1700000000000"`} {
		if !strings.Contains(string(j), want) {
			t.Errorf("JSON %s lacks %s", j, want)
		}
	}
	payload, err := PayloadFromJSON(j, DefaultMaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeEnvelope(payload)
	if err != nil || !proto.Equal(in, out) {
		t.Fatalf("round trip: %v, %v", out, err)
	}
}

func TestPayloadFromJSONErrors(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want error
	}{
		{"", ErrEmptyFrame},
		{"{", ErrBadMessage},
		{`{"seq":1}`, ErrBadMessage},
		{"\xff", ErrBadMessage},
		{`{"ping":{}}`, nil},
		{`{"ping":{},"futureField":1}`, nil}, // unknown fields are ignored, as in binary
	} {
		_, err := PayloadFromJSON([]byte(tt.in), 64)
		if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
			t.Errorf("%q: %v, want %v", tt.in, err, tt.want)
		}
	}
	if _, err := PayloadFromJSON(make([]byte, 65), 64); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("over max: %v", err)
	}
}

// FuzzPayloadFromJSON: any text a browser may send is either refused with
// ErrBadMessage (or a size error) or becomes a payload DecodeEnvelope accepts.
func FuzzPayloadFromJSON(f *testing.F) {
	for _, s := range []string{`{"seq":1,"hello":{"ticket":"t","clientVersion":"gamehall/1"}}`,
		`{"play":{"cards":"AAE=","reading":{"kind":"COMBO_AIRPLANE","rank":0,"length":4}}}`,
		`{"chat":{"scope":"ROOM","text":"hi"}}`, `{`, `[]`, `{"bid":{"bid":1e99}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := PayloadFromJSON(b, DefaultMaxFrame)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) && !errors.Is(err, ErrEmptyFrame) && !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if _, err := DecodeEnvelope(p); err != nil {
			t.Fatalf("accepted JSON gives an undecodable payload: %v", err)
		}
	})
}

// BenchmarkFrameToJSON is what a browser costs the shard per frame it
// receives (binary receivers share one encoding).
func BenchmarkFrameToJSON(b *testing.B) {
	frame := MustMarshal(&pb.Envelope{Msg: &pb.Envelope_GameEvent{GameEvent: &pb.GameEvent{
		Table: 12, MoveNo: 40, Kind: pb.GameEventKind_PLAY, Seat: 2, Cards: []byte{4, 5, 6, 7, 8},
		Combo: &pb.Combo{Kind: pb.ComboKind_COMBO_STRAIGHT, Rank: 1, Length: 5}, Multiplier: 2,
	}}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FrameToJSON(frame); err != nil {
			b.Fatal(err)
		}
	}
}
