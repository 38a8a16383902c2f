package protocol

import (
	"errors"
	"fmt"

	"github.com/ferrysync/ferry/internal/wirejson"
)

// Codec turns messages into frames and frames back into messages. JSONCodec
// is the only one today; a binary codec would travel in binary WebSocket
// frames and be chosen in the upgrade request (a WebSocket subprotocol), so
// the messages, limits, codes and validation stay the same.
type Codec interface {
	// Name identifies the encoding, e.g. "json".
	Name() string
	// Binary reports whether frames go in binary (true) or text (false)
	// WebSocket frames.
	Binary() bool
	// Encode returns the frame for m.
	Encode(m Message) ([]byte, error)
	// Decode parses and validates one frame under l; errors are *Error.
	Decode(frame []byte, l Limits) (Message, error)
}

// JSONCodec encodes messages as JSON envelopes in text frames:
//
//	{"v":1,"type":"push","body":{"batch":"b1","events":[...]}}
type JSONCodec struct{}

var _ Codec = JSONCodec{}

// Name returns "json".
func (JSONCodec) Name() string { return "json" }

// Binary returns false: JSON frames are text frames.
func (JSONCodec) Binary() bool { return false }

// Encode encodes m with JSONCodec.
func Encode(m Message) ([]byte, error) { return JSONCodec{}.Encode(m) }

// Decode decodes frame with JSONCodec.
func Decode(frame []byte, l Limits) (Message, error) { return JSONCodec{}.Decode(frame, l) }

// Encode returns m as a JSON frame of FrameVersion. Events go with
// the store defaults filled in (schema 1, data and meta {}); Data and Meta
// are compacted; HTML characters are not escaped. Encode does not validate
// m (see Validate).
func (JSONCodec) Encode(m Message) ([]byte, error) {
	body, ok := wireOf(m)
	if !ok {
		return nil, errors.New("protocol: encode: nil message")
	}
	frame, err := wirejson.Encode[Code](FrameVersion, string(m.Type()), body)
	if err != nil {
		return nil, fmt.Errorf("protocol: %w", err)
	}
	return frame, nil
}

// wireOf returns m's JSON shape: the same value converted for all but
// Welcome and Error, whose Limits and cause are the protocol's own. ok is
// false when m is nil.
func wireOf(m Message) (body any, ok bool) {
	switch m := m.(type) {
	case *Hello:
		return (*wirejson.Hello)(m), m != nil
	case *Welcome:
		if m == nil {
			return nil, false
		}
		return &wirejson.Welcome{Version: m.Version, Tenant: m.Tenant, Node: m.Node, Head: m.Head,
			Limits: wirejson.Limits(m.Limits), Streams: m.Streams, Time: m.Time, Digests: m.Digests, Generation: m.Generation}, true
	case *Push:
		return (*wirejson.Push)(m), m != nil
	case *Ack:
		return (*wirejson.Ack[Code])(m), m != nil
	case *Events:
		return (*wirejson.Events)(m), m != nil
	case *CaughtUp:
		return (*wirejson.CaughtUp)(m), m != nil
	case *Live:
		return (*wirejson.Live)(m), m != nil
	case *Error:
		if m == nil {
			return nil, false
		}
		return &wirejson.Error[Code]{Code: m.Code, Message: m.Message, EventID: m.EventID,
			RetryAfterMS: m.RetryAfterMS, Resume: m.Resume}, true
	case *Ping:
		return (*wirejson.Ping)(m), m != nil
	case *Pong:
		return (*wirejson.Pong)(m), m != nil
	}
	return nil, false
}

// fromWire returns the message of body, a shape wirejson.Decode returns.
func fromWire(body any) Message {
	switch w := body.(type) {
	case *wirejson.Hello:
		return (*Hello)(w)
	case *wirejson.Welcome:
		return &Welcome{Version: w.Version, Tenant: w.Tenant, Node: w.Node, Head: w.Head,
			Limits: Limits(w.Limits), Streams: w.Streams, Time: w.Time, Digests: w.Digests, Generation: w.Generation}
	case *wirejson.Push:
		return (*Push)(w)
	case *wirejson.Ack[Code]:
		return (*Ack)(w)
	case *wirejson.Events:
		return (*Events)(w)
	case *wirejson.CaughtUp:
		return (*CaughtUp)(w)
	case *wirejson.Live:
		return (*Live)(w)
	case *wirejson.Error[Code]:
		return &Error{Code: w.Code, Message: w.Message, EventID: w.EventID, RetryAfterMS: w.RetryAfterMS, Resume: w.Resume}
	case *wirejson.Ping:
		return (*Ping)(w)
	case *wirejson.Pong:
		return (*Pong)(w)
	}
	return nil
}

func isNil(m Message) bool {
	_, ok := wireOf(m)
	return !ok
}

// Decode parses one frame and validates it under l (zero fields meaning
// defaults). Any problem is an *Error whose Code tells which rule failed:
//
//   - CodeFrameTooLarge: len(frame) > MaxFrameBytes, checked before parsing;
//   - CodeUnsupportedVersion: "v" is not a version this package speaks;
//   - CodeProtocolViolation: not JSON, wrong shapes, unknown type, a missing
//     or out-of-range field;
//   - CodeTooManyEvents: more than MaxEventsPerBatch events or results;
//   - CodeEventTooLarge: an event's data and meta over MaxEventBytes;
//   - CodeInvalidEvent: an event envelope eventstore.ValidateEnvelope
//     rejects, data or meta not valid UTF-8, or a pushed event that
//     carries a hub_position.
//
// Decoded events have the store defaults filled in (see Encode) and Data
// and Meta compacted, so decoding, encoding and decoding again yields an
// equal message.
//
// Decode does not keep frame: the caller may reuse it. The parse is
// internal/wirejson's (see wirejson.Decode for the memory it takes).
func (JSONCodec) Decode(frame []byte, l Limits) (Message, error) {
	m, err := decode(frame, l.WithDefaults())
	if err != nil {
		return nil, err
	}
	return m, nil
}

// problemCodes maps what wirejson.Decode found to the code reporting it.
var problemCodes = map[wirejson.Problem]Code{
	wirejson.Malformed:   CodeProtocolViolation,
	wirejson.Unsupported: CodeUnsupportedVersion,
	wirejson.TooMany:     CodeTooManyEvents,
}

func decode(frame []byte, l Limits) (Message, *Error) {
	if len(frame) > l.MaxFrameBytes {
		return nil, errorf(CodeFrameTooLarge, "frame of %d bytes, limit %d", len(frame), l.MaxFrameBytes)
	}
	body, validJSON, derr := wirejson.Decode[Code](frame, wirejson.Bounds{Supported: Supported,
		MaxEvents: l.MaxEventsPerBatch, MaxVersions: MaxVersions, MaxPrefixes: MaxScopePrefixes, MaxPullPrefixes: MaxPullPrefixes, MaxName: MaxNameBytes})
	if derr != nil {
		return nil, errorf(problemCodes[derr.Problem], "%s", derr.Message)
	}
	m := fromWire(body)
	if err := checkDecoded(m, l, validJSON); err != nil {
		return nil, err
	}
	return m, nil
}
