package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/ferrysync/ferry/eventstore"
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

type envelopeOut struct {
	V    int     `json:"v"`
	Type Type    `json:"type"`
	Body Message `json:"body"`
}

// Encode returns m as a JSON frame of the current Version. Events are sent
// in their wire form: Position, Hydrated, Outdated and Rejected (facts about
// the sender's store) are left out, and the store defaults (schema 1, data and
// meta {}) are filled in. Data and Meta are compacted; HTML characters are
// not escaped. Encode does not validate m (see Validate).
func (JSONCodec) Encode(m Message) ([]byte, error) {
	if isNil(m) {
		return nil, errors.New("protocol: encode: nil message")
	}
	if frame, ok := encodeFast(m); ok {
		return frame, nil
	}
	return encodeJSON(m)
}

// encodeJSON encodes m with encoding/json: the path for the messages
// encodeFast leaves alone, and the reference encodeFast matches.
func encodeJSON(m Message) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(envelopeOut{V: Version, Type: m.Type(), Body: wireForm(m)}); err != nil {
		return nil, fmt.Errorf("protocol: encode %s: %w", m.Type(), err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// wireForm returns m, or a copy of it whose events are in wire form when
// any of them is not.
func wireForm(m Message) Message {
	switch m := m.(type) {
	case *Push:
		if evs, ok := wireEvents(m.Events); ok {
			c := *m
			c.Events = evs
			return &c
		}
	case *Events:
		if evs, ok := wireEvents(m.Events); ok {
			c := *m
			c.Events = evs
			return &c
		}
	case *Live:
		if evs, ok := wireEvents(m.Events); ok {
			c := *m
			c.Events = evs
			return &c
		}
	}
	return m
}

// wireEvents returns a wire-form copy of events and true, or false when
// they are all in wire form already.
func wireEvents(events []eventstore.Event) ([]eventstore.Event, bool) {
	dirty := false
	for i := range events {
		if !isWireForm(&events[i]) {
			dirty = true
			break
		}
	}
	if !dirty {
		return nil, false
	}
	out := make([]eventstore.Event, len(events))
	for i, e := range events {
		toWireForm(&e)
		out[i] = e
	}
	return out, true
}

func isWireForm(e *eventstore.Event) bool {
	return e.Position == 0 && !e.Hydrated && !e.Outdated && !e.Rejected && e.Schema != 0 && e.Data != nil && e.Meta != nil
}

func toWireForm(e *eventstore.Event) {
	e.Position, e.Hydrated, e.Outdated, e.Rejected = 0, false, false, false
	fillDefaults(e)
}

func isNil(m Message) bool {
	if m == nil {
		return true
	}
	v := reflect.ValueOf(m)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

type envelopeIn struct {
	V    int             `json:"v"`
	Type Type            `json:"type"`
	Body json.RawMessage `json:"body"`
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
// Decoded events are in wire form (see Encode) with Data and Meta compacted,
// so decoding, encoding and decoding again yields an equal message.
//
// Decode does not keep frame: the caller may reuse it.
//
// Memory: JSON has no length prefixes, so nothing is allocated from a
// declared length. Decode holds a few copies of the frame's bytes (at most
// about 3×MaxFrameBytes) plus one fixed-size record per list entry, and
// no list grows past its limit (MaxEventsPerBatch, MaxVersions,
// MaxScopePrefixes): the single-pass decoder of event-carrying frames stops
// at the limit and leaves the frame to encoding/json, which counts every
// list in the raw bytes before allocating it. Unknown fields are skipped
// without being stored.
func (JSONCodec) Decode(frame []byte, l Limits) (Message, error) {
	m, err := decode(frame, l.WithDefaults())
	if err != nil {
		return nil, err
	}
	return m, nil
}

func decode(frame []byte, l Limits) (Message, *Error) {
	if len(frame) > l.MaxFrameBytes {
		return nil, errorf(CodeFrameTooLarge, "frame of %d bytes, limit %d", len(frame), l.MaxFrameBytes)
	}
	if m, ok := decodeFast(frame, l); ok {
		if err := checkDecoded(m, l); err != nil {
			return nil, err
		}
		return m, nil
	}
	m, err := parseJSON(frame, l)
	if err != nil {
		return nil, err
	}
	if err := m.check(l); err != nil {
		return nil, err
	}
	return m, nil
}

// parseJSON parses frame with encoding/json, without validating the
// message: the path for every frame decodeFast leaves alone.
func parseJSON(frame []byte, l Limits) (Message, *Error) {
	var env envelopeIn
	if err := json.Unmarshal(frame, &env); err != nil {
		return nil, errorf(CodeProtocolViolation, "malformed frame: %v", err)
	}
	switch {
	case env.V == 0:
		return nil, errorf(CodeProtocolViolation, "missing version")
	case !Supported(env.V):
		return nil, errorf(CodeUnsupportedVersion, "version %d is not supported", env.V)
	case env.Type == "":
		return nil, errorf(CodeProtocolViolation, "missing type")
	case len(env.Body) == 0 || string(env.Body) == "null":
		return nil, errorf(CodeProtocolViolation, "%s: missing body", truncate(string(env.Type), MaxNameBytes))
	}
	return decodeBody(env.Type, env.Body, l)
}

func decodeBody(t Type, body []byte, l Limits) (Message, *Error) {
	switch t {
	case TypeHello:
		m := new(Hello)
		w := struct {
			*Hello
			Versions json.RawMessage `json:"versions"`
			Streams  json.RawMessage `json:"streams"`
		}{Hello: m}
		err := unmarshalBody(t, body, &w)
		if err == nil {
			m.Versions, err = decodeList[int](w.Versions, MaxVersions, CodeProtocolViolation, "hello: versions")
		}
		if err == nil {
			m.Streams, err = decodeList[string](w.Streams, MaxScopePrefixes, CodeProtocolViolation, "hello: streams")
		}
		return m, err
	case TypeWelcome:
		m := new(Welcome)
		w := struct {
			*Welcome
			Streams json.RawMessage `json:"streams"`
		}{Welcome: m}
		err := unmarshalBody(t, body, &w)
		if err == nil {
			m.Streams, err = decodeList[string](w.Streams, MaxScopePrefixes, CodeProtocolViolation, "welcome: streams")
		}
		return m, err
	case TypePush:
		m := new(Push)
		w := struct {
			*Push
			Events json.RawMessage `json:"events"`
		}{Push: m}
		err := unmarshalBody(t, body, &w)
		if err == nil {
			m.Events, err = decodeEvents(w.Events, l, "push")
		}
		return m, err
	case TypeAck:
		m := new(Ack)
		w := struct {
			*Ack
			Results json.RawMessage `json:"results"`
		}{Ack: m}
		err := unmarshalBody(t, body, &w)
		if err == nil {
			m.Results, err = decodeList[AckResult](w.Results, l.MaxEventsPerBatch, CodeTooManyEvents, "ack: results")
		}
		return m, err
	case TypeEvents:
		m := new(Events)
		w := struct {
			*eventsMsg
			Events json.RawMessage `json:"events"`
		}{eventsMsg: m}
		err := unmarshalBody(t, body, &w)
		if err == nil {
			m.Events, err = decodeEvents(w.Events, l, "events")
		}
		return m, err
	case TypeLive:
		m := new(Live)
		w := struct {
			*Live
			Events json.RawMessage `json:"events"`
		}{Live: m}
		err := unmarshalBody(t, body, &w)
		if err == nil {
			m.Events, err = decodeEvents(w.Events, l, "live")
		}
		return m, err
	case TypeCaughtUp:
		m := new(CaughtUp)
		return m, unmarshalBody(t, body, m)
	case TypeError:
		m := new(Error)
		return m, unmarshalBody(t, body, m)
	case TypePing:
		m := new(Ping)
		return m, unmarshalBody(t, body, m)
	case TypePong:
		m := new(Pong)
		return m, unmarshalBody(t, body, m)
	}
	return nil, errorf(CodeProtocolViolation, "unknown message type %q", truncate(string(t), MaxNameBytes))
}

// eventsMsg names Events so it can be embedded beside a field called Events.
type eventsMsg = Events

func unmarshalBody(t Type, body []byte, v any) *Error {
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(CodeProtocolViolation, "%s: malformed body: %v", t, err)
	}
	return nil
}

// decodeList decodes a JSON list (raw is valid JSON, or empty when the field
// was absent) after counting its entries: more than max is an error with
// code, and the slice is never allocated beyond max. An empty list decodes
// to nil.
func decodeList[T any](raw json.RawMessage, max int, code Code, what string) ([]T, *Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	n, ok := countArray(raw, max)
	if !ok {
		return nil, errorf(CodeProtocolViolation, "%s: want a list", what)
	}
	if n > max {
		return nil, errorf(code, "%s: more than %d entries", what, max)
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]T, 0, n)
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, errorf(CodeProtocolViolation, "%s: %v", what, err)
	}
	return out, nil
}

// decodeEvents decodes a list of events and puts them in wire form.
func decodeEvents(raw json.RawMessage, l Limits, what string) ([]eventstore.Event, *Error) {
	events, err := decodeList[eventstore.Event](raw, l.MaxEventsPerBatch, CodeTooManyEvents, what+": events")
	for i := range events {
		e := &events[i]
		toWireForm(e)
		e.Data = compactInPlace(e.Data)
		e.Meta = compactInPlace(e.Meta)
	}
	return events, err
}
