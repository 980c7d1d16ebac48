package hall

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"strings"
	"testing"
)

// mask builds a client frame as a browser sends it.
func mask(op byte, fin bool, p []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	key := []byte{1, 2, 3, 4}
	out := []byte{b0, 0x80 | byte(len(p))}
	out = append(out, key...)
	for i, c := range p {
		out = append(out, c^key[i&3])
	}
	return out
}

func TestAppendFrameLengths(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		f := appendFrame(nil, opText, bytes.Repeat([]byte("x"), n))
		if f[0] != 0x81 {
			t.Fatalf("%d: first byte %#x", n, f[0])
		}
		var got, hdr int
		switch l := f[1]; {
		case l < 126:
			got, hdr = int(l), 2
		case l == 126:
			got, hdr = int(binary.BigEndian.Uint16(f[2:])), 4
		default:
			got, hdr = int(binary.BigEndian.Uint64(f[2:])), 10
		}
		if got != n || len(f) != hdr+n || f[1]&0x80 != 0 {
			t.Fatalf("%d bytes framed as length %d, header %d, total %d", n, got, hdr, len(f))
		}
	}
	if c := closeFrame(closeGoingAway, strings.Repeat("r", 200)); len(c) > 127 || binary.BigEndian.Uint16(c[2:]) != closeGoingAway {
		t.Fatalf("close frame % x", c)
	}
}

func TestParseClientFrames(t *testing.T) {
	ping, pong := mask(opPing, true, []byte("hi")), mask(opPong, true, nil)
	closing := mask(opClose, true, append(binary.BigEndian.AppendUint16(nil, 1000), "bye"...))
	for _, tt := range []struct {
		name string
		in   []byte
		ops  []byte
		rest int
		err  string
	}{
		{"nothing", nil, nil, 0, ""},
		{"ping and pong", append(append([]byte{}, ping...), pong...), []byte{opPing, opPong}, 0, ""},
		{"close", closing, []byte{opClose}, 0, ""},
		{"partial header", ping[:1], nil, 1, ""},
		{"partial payload", append(append([]byte{}, pong...), ping[:5]...), []byte{opPong}, 5, ""},
		{"text message", mask(opText, true, []byte("{}")), nil, 0, "takes no messages"},
		{"binary message", mask(0x2, true, []byte{1}), nil, 0, "takes no messages"},
		{"unmasked", []byte{0x89, 0x00}, nil, 0, "not masked"},
		{"reserved bits", []byte{0xC9, 0x80, 0, 0, 0, 0}, nil, 0, "reserved"},
		{"fragmented ping", mask(opPing, false, nil), nil, 0, "fragmented"},
		{"long ping", []byte{0x89, 0x80 | 126, 0, 200}, nil, 0, "longer than 125"},
		{"unknown opcode", mask(0x3, true, nil), nil, 0, "unknown opcode"},
		{"one-byte close", mask(opClose, true, []byte{3}), nil, 0, "malformed close"},
		{"close reason not UTF-8", mask(opClose, true, []byte{3, 232, 0xff}), nil, 0, "malformed close"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			frames, rest, err := parseClientFrames(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || len(rest) != tt.rest || len(frames) != len(tt.ops) {
				t.Fatalf("frames %v rest %d err %v", frames, len(rest), err)
			}
			for i, f := range frames {
				if f.op != tt.ops[i] {
					t.Fatalf("frame %d op %#x, want %#x", i, f.op, tt.ops[i])
				}
			}
		})
	}
	if frames, _, _ := parseClientFrames(ping); string(frames[0].payload) != "hi" {
		t.Fatalf("ping payload %q", frames[0].payload)
	}
}

// FuzzParseClientFrames: whatever a client sends, parsing ends with frames
// and a rest that add up to the input, or an error; never a panic.
func FuzzParseClientFrames(f *testing.F) {
	f.Add(mask(opPing, true, []byte("x")))
	f.Add(mask(opClose, true, []byte{3, 232}))
	f.Add([]byte{0x89, 0x80, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		frames, rest, err := parseClientFrames(b)
		if err != nil {
			return
		}
		used := len(rest)
		for _, fr := range frames {
			if len(fr.payload) > 125 {
				t.Fatalf("control payload of %d bytes", len(fr.payload))
			}
			used += 6 + len(fr.payload)
		}
		if used != len(b) {
			t.Fatalf("frames and rest cover %d of %d bytes", used, len(b))
		}
	})
}

func TestCheckUpgrade(t *testing.T) {
	req := func(mod func(h http.Header)) *http.Request {
		r, _ := http.NewRequest("GET", "http://h/v1/regions/r/watch", nil)
		r.Header.Set("Connection", "keep-alive, Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		if mod != nil {
			mod(r.Header)
		}
		return r
	}
	// RFC 6455 section 1.3's example.
	if got, err := checkUpgrade(req(nil)); err != nil || got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept = %q, %v", got, err)
	}
	for name, mod := range map[string]func(h http.Header){
		"no upgrade": func(h http.Header) { h.Del("Upgrade") },
		"version 8":  func(h http.Header) { h.Set("Sec-WebSocket-Version", "8") },
		"short key":  func(h http.Header) { h.Set("Sec-WebSocket-Key", "c2hvcnQ=") },
	} {
		if _, err := checkUpgrade(req(mod)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
