package wirejson

import (
	"strconv"
	"unicode/utf8"
)

// The fast encoder writes the messages that carry events (push, ack,
// events, live) without reflection, byte for byte as encoding/json writes
// them with HTML escaping off (TestFastEncodeMatchesJSON holds it to that).
// When an event's Data or Meta is not valid JSON it gives up, and Encode
// takes the encoding/json path, which reports the error.

// encodeFast returns the frame of body, or false when Encode must take the
// encoding/json path.
func encodeFast[C ~string](version int, body any) ([]byte, bool) {
	var (
		dst []byte
		ok  = true
	)
	switch m := body.(type) {
	case *Push:
		dst = envelope(version, TypePush, 64+len(m.Batch)+eventsSize(m.Events))
		dst = append(dst, `{"batch":`...)
		dst = appendString(dst, m.Batch)
		dst = append(dst, `,"events":`...)
		dst, ok = appendEvents(dst, m.Events)
	case *Ack[C]:
		dst = envelope(version, TypeAck, 64+len(m.Batch)+len(m.Results)*64)
		dst = append(dst, `{"batch":`...)
		dst = appendString(dst, m.Batch)
		dst = append(dst, `,"results":`...)
		dst = appendResults(dst, m.Results)
	case *Events:
		dst, ok = appendEventsBody(envelope(version, TypeEvents, 64+eventsSize(m.Events)), m.Events, m.Cursor)
	case *Live:
		dst, ok = appendEventsBody(envelope(version, TypeLive, 64+eventsSize(m.Events)), m.Events, m.Cursor)
	default:
		return nil, false
	}
	if !ok {
		return nil, false
	}
	return append(dst, '}', '}'), true
}

// envelope starts a frame of type t with room for size more bytes.
func envelope(version int, t string, size int) []byte {
	dst := make([]byte, 0, 32+len(t)+size)
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, int64(version), 10)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, t)
	return append(dst, `,"body":`...)
}

// appendEventsBody appends the body of an events or live message, without
// its closing brace.
func appendEventsBody(dst []byte, events []Event, cursor int64) ([]byte, bool) {
	dst = append(dst, `{"events":`...)
	dst, ok := appendEvents(dst, events)
	dst = append(dst, `,"cursor":`...)
	return strconv.AppendInt(dst, cursor, 10), ok
}

// eventsSize estimates the encoded size of events.
func eventsSize(events []Event) int {
	n := 0
	for i := range events {
		e := &events[i]
		n += 160 + len(e.ID) + len(e.Stream) + len(e.Type) + len(e.Origin) + len(e.Data) + len(e.Meta)
	}
	return n
}

// appendEvents appends events as a JSON list (null when nil).
func appendEvents(dst []byte, events []Event) ([]byte, bool) {
	if events == nil {
		return append(dst, "null"...), true
	}
	dst = append(dst, '[')
	for i := range events {
		if i > 0 {
			dst = append(dst, ',')
		}
		var ok bool
		if dst, ok = appendEvent(dst, &events[i]); !ok {
			return dst, false
		}
	}
	return append(dst, ']'), true
}

// appendEvent appends e with the store defaults filled in (schema 1, data
// and meta {}) and Data and Meta compacted.
func appendEvent(dst []byte, e *Event) ([]byte, bool) {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, e.ID)
	dst = append(dst, `,"stream":`...)
	dst = appendString(dst, e.Stream)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, e.Type)
	dst = append(dst, `,"schema":`...)
	schema := e.Schema
	if schema == 0 {
		schema = 1
	}
	dst = strconv.AppendInt(dst, int64(schema), 10)
	var ok bool
	dst = append(dst, `,"data":`...)
	if dst, ok = appendRaw(dst, e.Data); !ok {
		return dst, false
	}
	dst = append(dst, `,"meta":`...)
	if dst, ok = appendRaw(dst, e.Meta); !ok {
		return dst, false
	}
	dst = append(dst, `,"created":"`...)
	dst = appendTimestamp(dst, e.Created)
	dst = append(dst, `","origin":`...)
	dst = appendString(dst, e.Origin)
	if e.HubPosition != 0 {
		dst = append(dst, `,"hub_position":`...)
		dst = strconv.AppendInt(dst, e.HubPosition, 10)
	}
	return append(dst, '}'), true
}

// appendRaw appends the JSON document raw compacted, or {} when raw is nil
// (the store default); false when raw is not valid JSON.
func appendRaw(dst, raw []byte) ([]byte, bool) {
	if raw == nil {
		return append(dst, "{}"...), true
	}
	d := decoder{b: raw}
	if !d.value(0) {
		return dst, false
	}
	d.ws()
	if d.i != len(raw) {
		return dst, false
	}
	n := len(dst)
	dst = append(dst, raw...)
	if d.space {
		dst = dst[:n+len(compactInPlace(dst[n:]))]
	}
	return dst, true
}

// appendTimestamp appends t's 16 hex digits (Timestamp.String).
func appendTimestamp(dst []byte, t Timestamp) []byte {
	const hex = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hex[t&0xf]
		t >>= 4
	}
	return append(dst, b[:]...)
}

// appendResults appends ack results as a JSON list (null when nil).
func appendResults[C ~string](dst []byte, results []AckResult[C]) []byte {
	if results == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i := range results {
		r := &results[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = appendString(dst, r.ID)
		if r.HubPosition != 0 {
			dst = append(dst, `,"hub_position":`...)
			dst = strconv.AppendInt(dst, r.HubPosition, 10)
		}
		if r.Duplicate {
			dst = append(dst, `,"duplicate":true`...)
		}
		if r.Code != "" {
			dst = append(dst, `,"code":`...)
			dst = appendString(dst, string(r.Code))
		}
		if r.Reason != "" {
			dst = append(dst, `,"reason":`...)
			dst = appendString(dst, r.Reason)
		}
		if r.RetryAfterMS != 0 {
			dst = append(dst, `,"retry_after_ms":`...)
			dst = strconv.AppendInt(dst, r.RetryAfterMS, 10)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendString appends s as a JSON string the way encoding/json does with
// HTML escaping off: control characters, '"' and '\' escaped, invalid
// UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
