package wirejson

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Bounds are the protocol's rules Decode applies while it parses.
type Bounds struct {
	// Supported reports whether the protocol speaks version v.
	Supported func(v int) bool
	// MaxEvents bounds the events, or ack results, of one list.
	MaxEvents int
	// MaxVersions bounds a hello's versions.
	MaxVersions int
	// MaxPrefixes bounds a welcome's streams, and a hello's when
	// MaxPullPrefixes is 0.
	MaxPrefixes int
	// MaxPullPrefixes bounds a hello's streams.
	MaxPullPrefixes int
	// MaxName bounds the message type quoted in an error.
	MaxName int
}

// Problem is what kind of rule a frame breaks.
type Problem uint8

// Problems.
const (
	// Malformed: not JSON, wrong shapes, unknown type, a missing field.
	Malformed Problem = iota + 1
	// Unsupported: a version the protocol does not speak.
	Unsupported
	// TooMany: a list longer than its bound (events or results).
	TooMany
)

// DecodeError says why Decode refused a frame.
type DecodeError struct {
	Problem Problem
	Message string
}

func (e *DecodeError) Error() string { return e.Message }

func errorf(p Problem, format string, args ...any) *DecodeError {
	return &DecodeError{Problem: p, Message: fmt.Sprintf(format, args...)}
}

// Decode parses one frame into the shape of its type: *Hello, *Welcome,
// *Push, *Ack[C], *Events, *CaughtUp, *Live, *Error[C], *Ping or *Pong. It
// does not validate the message beyond its JSON shape and b. Events come
// with the store defaults filled in (schema 1, data and meta {}) and Data
// and Meta compacted. fast reports that the single-pass decoder took the
// frame (every byte of every Data and Meta checked as JSON); otherwise the
// frame went through encoding/json.
//
// Decode does not keep frame: the caller may reuse it.
//
// Memory: JSON has no length prefixes, so nothing is allocated from a
// declared length. Decode holds a few copies of the frame's bytes (at most
// about 3×len(frame)) plus one fixed-size record per list entry, and no
// list grows past its bound: the single-pass decoder stops at the bound
// and leaves the frame to encoding/json, which counts every list in the
// raw bytes before allocating it. Unknown fields are skipped without being
// stored.
func Decode[C ~string](frame []byte, b Bounds) (m any, fast bool, err *DecodeError) {
	if m, ok := decodeFast[C](frame, b); ok {
		return m, true, nil
	}
	m, err = parseJSON[C](frame, b)
	return m, false, err
}

// Encode returns the frame of body (a shape Decode returns) as message
// type t of the given version. Events go with the store defaults filled in;
// Data and Meta are compacted; HTML characters are not escaped.
func Encode[C ~string](version int, t string, body any) ([]byte, error) {
	if frame, ok := encodeFast[C](version, body); ok {
		return frame, nil
	}
	return encodeJSON(version, t, body)
}

// encodeJSON encodes with encoding/json: the path for the messages
// encodeFast leaves alone, and the reference encodeFast matches.
func encodeJSON(version int, t string, body any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(envelopeOut{V: version, Type: t, Body: withDefaults(body)}); err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

type envelopeOut struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	Body any    `json:"body"`
}

// withDefaults returns body, or a copy of it whose events have the store
// defaults filled in when any of them lacks one.
func withDefaults(body any) any {
	switch m := body.(type) {
	case *Push:
		if evs, ok := defaulted(m.Events); ok {
			c := *m
			c.Events = evs
			return &c
		}
	case *Events:
		if evs, ok := defaulted(m.Events); ok {
			return &Events{Events: evs, Cursor: m.Cursor}
		}
	case *Live:
		if evs, ok := defaulted(m.Events); ok {
			return &Live{Events: evs, Cursor: m.Cursor}
		}
	}
	return body
}

// defaulted returns a copy of events with the store defaults filled in and
// true, or false when none lacks one.
func defaulted(events []Event) ([]Event, bool) {
	dirty := false
	for i := range events {
		e := &events[i]
		if e.Schema == 0 || e.Data == nil || e.Meta == nil {
			dirty = true
			break
		}
	}
	if !dirty {
		return nil, false
	}
	out := make([]Event, len(events))
	for i, e := range events {
		fillDefaults(&e)
		out[i] = e
	}
	return out, true
}

// fillDefaults applies the defaults every store applies to e.
func fillDefaults(e *Event) { Defaults(&e.Schema, &e.Data, &e.Meta) }

// Defaults applies the defaults every store applies to an event's
// fields: schema 1 when it is 0, and {} for a nil data or meta. It is
// eventstore.Event.WithDefaults's too.
func Defaults(schema *int, data, meta *json.RawMessage) {
	if *schema == 0 {
		*schema = 1
	}
	if *data == nil {
		*data = json.RawMessage("{}")
	}
	if *meta == nil {
		*meta = json.RawMessage("{}")
	}
}

// Truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xC0 == 0x80 { // continuation byte
		i--
	}
	return s[:i]
}
