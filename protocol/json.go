package protocol

import (
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/gamehall/gamehall/protocol/pb"
)

// JSONSubprotocol is the WebSocket subprotocol in which each text message
// is one Envelope in the protobuf JSON mapping (protojson) instead of a
// length-prefixed binary frame. Browsers use it: the same messages, with no
// generated codec to ship (docs/protocol.md, "JSON over WebSocket").
const JSONSubprotocol = "gamehall.v1.json"

var (
	jsonIn = protojson.UnmarshalOptions{DiscardUnknown: true} // newer clients' fields are ignored, as in binary
	// Zero scalars are written (seat 0 is a seat), absent messages are not.
	jsonOut = protojson.MarshalOptions{EmitDefaultValues: true}
)

// PayloadFromJSON turns a JSON Envelope into the binary payload a binary
// frame would carry. Malformed JSON or an Envelope with no message wraps
// ErrBadMessage and says why.
func PayloadFromJSON(b []byte, max int) ([]byte, error) {
	if len(b) == 0 {
		return nil, ErrEmptyFrame
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: %d > %d bytes", ErrFrameTooLarge, len(b), max)
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: JSON message is not UTF-8", ErrBadMessage)
	}
	env := &pb.Envelope{}
	if err := jsonIn.Unmarshal(b, env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if env.Msg == nil {
		return nil, fmt.Errorf("%w: envelope carries no known message", ErrBadMessage)
	}
	return proto.Marshal(env)
}

// FrameToJSON turns a binary frame (length prefix included) into its JSON
// Envelope.
func FrameToJSON(frame []byte) ([]byte, error) {
	if len(frame) < HeaderSize {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the header", ErrBadMessage, len(frame))
	}
	env := &pb.Envelope{}
	if err := proto.Unmarshal(frame[HeaderSize:], env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	return jsonOut.Marshal(env)
}

// EnvelopeToJSON encodes env for the JSON subprotocol.
func EnvelopeToJSON(env *pb.Envelope) ([]byte, error) { return jsonOut.Marshal(env) }
