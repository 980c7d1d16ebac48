// Package protocol is the wire format of the game server: frames of a 4-byte
// big-endian length and one protobuf message (see pb/gamehall.proto and
// docs/protocol.md). The same frames travel over TCP and, one per binary
// message, over WebSocket.
package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/gamehall/gamehall/protocol/pb"
)

// Version is the protocol version a client names in Hello.client_version
// ("gamehall/1..."). Only the major number must match.
const Version = "gamehall/1"

// DefaultMaxFrame bounds one frame's payload. The largest legitimate message
// is a RoomState of a busy room (100 tables × 3 seats ≈ 10 KB).
const DefaultMaxFrame = 64 << 10

// HeaderSize is the length prefix.
const HeaderSize = 4

// Errors callers tell apart with errors.Is.
var (
	ErrFrameTooLarge = errors.New("protocol: frame larger than the maximum")
	ErrEmptyFrame    = errors.New("protocol: empty frame")
	ErrBadMessage    = errors.New("protocol: malformed message")
)

// Marshal encodes m as one frame (length prefix included).
func Marshal(m proto.Message) ([]byte, error) {
	return AppendFrame(make([]byte, 0, HeaderSize+proto.Size(m)), m)
}

// AppendFrame appends m as one frame to b: a batch of frames is their
// concatenation, written to a socket at once.
func AppendFrame(b []byte, m proto.Message) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b, err := proto.MarshalOptions{}.MarshalAppend(b, m)
	if err != nil {
		return b[:start], fmt.Errorf("protocol: marshal: %w", err)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-HeaderSize))
	return b, nil
}

// NextFrame splits the first frame off a batch of whole frames (as
// AppendFrame makes them); ok is false when b is empty or not whole.
func NextFrame(b []byte) (frame, rest []byte, ok bool) {
	if len(b) < HeaderSize {
		return nil, b, false
	}
	n := HeaderSize + int(binary.BigEndian.Uint32(b))
	if n > len(b) {
		return nil, b, false
	}
	return b[:n], b[n:], true
}

// MustMarshal is Marshal for messages the server builds itself; they always
// encode.
func MustMarshal(m proto.Message) []byte {
	b, err := Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// WriteFrame writes m as one frame.
func WriteFrame(w io.Writer, m proto.Message) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// ReadFrame reads one frame's payload. It refuses lengths above max before
// allocating, and empty frames (every valid Envelope has a message).
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	var hdr [HeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n, err := CheckHeader(hdr[:], max)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// CheckHeader returns the payload length the 4-byte header announces.
func CheckHeader(hdr []byte, max int) (int, error) {
	n := binary.BigEndian.Uint32(hdr)
	if n == 0 {
		return 0, ErrEmptyFrame
	}
	if uint64(n) > uint64(max) {
		return 0, fmt.Errorf("%w: %d > %d bytes", ErrFrameTooLarge, n, max)
	}
	return int(n), nil
}

// SplitFrame checks a whole frame held in one buffer (a WebSocket message) and
// returns its payload.
func SplitFrame(b []byte, max int) ([]byte, error) {
	if len(b) < HeaderSize {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the header", ErrBadMessage, len(b))
	}
	n, err := CheckHeader(b, max)
	if err != nil {
		return nil, err
	}
	if n != len(b)-HeaderSize {
		return nil, fmt.Errorf("%w: header says %d bytes, message has %d", ErrBadMessage, n, len(b)-HeaderSize)
	}
	return b[HeaderSize:], nil
}

// DecodeEnvelope parses a payload. An Envelope without a message is an error:
// it is either garbage or from a newer protocol this server cannot serve.
func DecodeEnvelope(payload []byte) (*pb.Envelope, error) {
	env := &pb.Envelope{}
	if err := proto.Unmarshal(payload, env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if env.Msg == nil {
		return nil, fmt.Errorf("%w: envelope carries no known message", ErrBadMessage)
	}
	return env, nil
}

// DecodeOccupancy parses an occupancy stream payload.
func DecodeOccupancy(payload []byte) (*pb.OccupancyFrame, error) {
	f := &pb.OccupancyFrame{}
	if err := proto.Unmarshal(payload, f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if f.Msg == nil {
		return nil, fmt.Errorf("%w: occupancy frame carries no known message", ErrBadMessage)
	}
	return f, nil
}
