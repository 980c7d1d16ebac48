package protocol

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gamehall/gamehall/protocol/pb"
)

func TestRoundTrip(t *testing.T) {
	msgs := []*pb.Envelope{
		{Seq: 1, Msg: &pb.Envelope_Hello{Hello: &pb.Hello{Ticket: "t", ClientVersion: Version}}},
		{Seq: 2, Msg: &pb.Envelope_Play{Play: &pb.Play{Cards: []byte{3, 4, 5, 6, 7}}}},
		{Msg: &pb.Envelope_RoomEvents{RoomEvents: &pb.RoomEvents{Room: 7, Players: 2, Events: []*pb.RoomEvent{{Kind: pb.RoomEventKind_ENTER, Account: "a"}}}}},
		{Seq: 9, Msg: &pb.Envelope_Error{Error: &pb.Error{Code: pb.ErrorCode_ROOM_FULL, Rooms: []int32{2, 3}}}},
	}
	var buf bytes.Buffer
	for _, m := range msgs {
		if err := WriteFrame(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range msgs {
		p, err := ReadFrame(&buf, DefaultMaxFrame)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		got, err := DecodeEnvelope(p)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("frame %d: got %v want %v", i, got, want)
		}
	}
	if _, err := ReadFrame(&buf, DefaultMaxFrame); !errors.Is(err, io.EOF) {
		t.Fatalf("after last frame: %v, want EOF", err)
	}
}

// TestBatch: frames appended to one buffer split back into the same frames.
func TestBatch(t *testing.T) {
	var b []byte
	var want [][]byte
	for i := range 3 {
		env := &pb.Envelope{Seq: uint32(i + 1), Msg: &pb.Envelope_Ok{Ok: &pb.Ok{}}}
		var err error
		if b, err = AppendFrame(b, env); err != nil {
			t.Fatal(err)
		}
		want = append(want, MustMarshal(env))
	}
	rest := b
	for i, w := range want {
		f, r, ok := NextFrame(rest)
		if !ok || !bytes.Equal(f, w) {
			t.Fatalf("frame %d: %x, %v; want %x", i, f, ok, w)
		}
		rest = r
	}
	if _, _, ok := NextFrame(rest); ok || len(rest) != 0 {
		t.Fatalf("left over: %x", rest)
	}
	if _, _, ok := NextFrame(b[:len(b)-1]); !ok {
		t.Fatal("the first frame of a cut batch is whole")
	}
	if _, _, ok := NextFrame(want[0][:5]); ok {
		t.Fatal("a cut frame split as whole")
	}
}

func TestReadFrameErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"empty stream", nil, 100, io.EOF},
		{"short header", []byte{0, 0}, 100, io.ErrUnexpectedEOF},
		{"zero length", []byte{0, 0, 0, 0}, 100, ErrEmptyFrame},
		{"too large", []byte{0, 0, 0, 101}, 100, ErrFrameTooLarge},
		{"huge (HTTP GET)", []byte("GET / HTTP/1.1"), 100, ErrFrameTooLarge},
		{"truncated body", []byte{0, 0, 0, 5, 1, 2}, 100, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tc.in), tc.max)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
	}{
		{"garbage", []byte{0xff, 0xff, 0xff}},
		{"no message", MustMarshal(&pb.Envelope{Seq: 3})[HeaderSize:]},
		{"unknown field only", []byte{0xf8, 0x3f, 0x01}}, // field 1023 varint
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeEnvelope(tc.payload); !errors.Is(err, ErrBadMessage) {
				t.Fatalf("got %v, want ErrBadMessage", err)
			}
		})
	}
}

func TestSplitFrame(t *testing.T) {
	ok := MustMarshal(&pb.Envelope{Msg: &pb.Envelope_Ping{Ping: &pb.Ping{}}})
	if _, err := SplitFrame(ok, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := SplitFrame(append(ok, 0), 100); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("trailing byte: %v", err)
	}
	if _, err := SplitFrame(ok[:2], 100); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("short: %v", err)
	}
}

// FuzzReadFrame feeds arbitrary bytes to the decoder the server runs on
// untrusted input: it must never panic, never return more than max bytes, and
// anything it accepts must re-encode to a frame that decodes the same.
func FuzzReadFrame(f *testing.F) {
	f.Add(MustMarshal(&pb.Envelope{Seq: 1, Msg: &pb.Envelope_Hello{Hello: &pb.Hello{Ticket: "x"}}}))
	f.Add(MustMarshal(&pb.Envelope{Msg: &pb.Envelope_Chat{Chat: &pb.Chat{Scope: pb.ChatScope_ROOM, Text: "你好"}}}))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Add([]byte{0, 0, 0, 3, 0x82, 0x01, 0x00})
	const max = 1024
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			p, err := ReadFrame(r, max)
			if err != nil {
				return
			}
			if len(p) > max || len(p) == 0 {
				t.Fatalf("payload of %d bytes accepted", len(p))
			}
			env, err := DecodeEnvelope(p)
			if err != nil {
				if !errors.Is(err, ErrBadMessage) {
					t.Fatalf("unclassified error %v", err)
				}
				continue
			}
			again, err := Marshal(env)
			if err != nil {
				t.Fatalf("re-marshal: %v", err)
			}
			env2, err := DecodeEnvelope(again[HeaderSize:])
			if err != nil || !proto.Equal(env, env2) {
				t.Fatalf("round trip changed the message: %v", err)
			}
		}
	})
}

func FuzzDecodeOccupancy(f *testing.F) {
	f.Add(MustMarshal(&pb.OccupancyFrame{Msg: &pb.OccupancyFrame_Snapshot{Snapshot: &pb.OccupancySnapshot{Shard: "s", Epoch: "e", Rooms: []*pb.RoomCount{{Room: 1, Players: 2, Capacity: 400}}}}})[HeaderSize:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, err := DecodeOccupancy(in)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if fr.Msg == nil {
			t.Fatal("accepted a frame without a message")
		}
	})
}

func BenchmarkMarshalPlay(b *testing.B) {
	m := &pb.Envelope{Msg: &pb.Envelope_GameEvent{GameEvent: &pb.GameEvent{Table: 12, MoveNo: 30, Kind: pb.GameEventKind_PLAY, Seat: 1, Cards: []byte{3, 4, 5, 6, 7}}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadDecodePlay(b *testing.B) {
	frame := MustMarshal(&pb.Envelope{Seq: 4, Msg: &pb.Envelope_Play{Play: &pb.Play{Cards: []byte{3, 4, 5, 6, 7}}}})
	r := bytes.NewReader(frame)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(frame)
		p, err := ReadFrame(r, DefaultMaxFrame)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeEnvelope(p); err != nil {
			b.Fatal(err)
		}
	}
}
