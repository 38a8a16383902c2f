package wirejson

import (
	"bytes"
	"unicode/utf8"
)

// The fast decoder parses the frames that carry events (push, ack, events,
// live) in one pass over the bytes, without reflection. It handles the
// frames peers actually send: exact lower-case keys without escapes, string
// fields without escapes and in valid UTF-8, integer fields as plain
// integers. Whenever it meets anything else (an escape, a key that differs
// from a known one only by case, a null, a duplicate key, a list over its
// limit, a syntax error) it gives up and Decode takes the encoding/json path,
// so every frame decodes to exactly what encoding/json makes of it and every
// error is reported by the same code as before. The fast decoder only
// accepts a frame that is valid JSON throughout.
//
// Memory: one events (or results) slice grown up to MaxEventsPerBatch
// entries, one arena for the events' Data and Meta of at most len(frame)
// bytes, one string per ID, and one string per distinct Stream, Type and
// Origin (the first maxIntern of them are shared by the events repeating
// them). Nothing aliases frame.

// maxFastDepth bounds the nesting the fast decoder follows inside Data,
// Meta and unknown fields; deeper values go to encoding/json.
const maxFastDepth = 512

// decoder is the state of one fast decode.
type decoder struct {
	b     []byte
	i     int
	space bool   // whitespace was skipped since it was last cleared
	arena []byte // Data and Meta of the decoded events
	// intern holds the streams, types and origins decoded so far (up to
	// maxIntern), so that events repeating them share one string; share
	// is false while the first event of a list is decoded, so that a frame
	// of one event builds no map.
	intern map[string]string
	share  bool
}

// maxIntern bounds decoder.intern.
const maxIntern = 256

// decodeFast decodes frame when it is one of the messages the fast decoder
// handles; ok is false when Decode must take the encoding/json path. The
// message is not validated.
func decodeFast[C ~string](frame []byte, b Bounds) (m any, ok bool) {
	d := decoder{b: frame}
	if !d.open('{') {
		return nil, false
	}
	var (
		v    int64
		typ  []byte // within frame
		seen uint8
	)
	for more := !d.closing('}'); more; {
		key, ok := d.key()
		if !ok {
			return nil, false
		}
		switch string(key) {
		case "v":
			if !d.once(&seen, 1) || !d.int(&v) {
				return nil, false
			}
		case "type":
			if !d.once(&seen, 2) {
				return nil, false
			}
			var ok bool
			if typ, ok = d.rawString(); !ok {
				return nil, false
			}
		case "body":
			// The body is parsed in place, so the type must come first
			// (as Encode writes it).
			if !d.once(&seen, 4) || seen&2 == 0 || !d.open('{') {
				return nil, false
			}
			if m, ok = body[C](&d, typ, b.MaxEvents); !ok {
				return nil, false
			}
		default:
			if !d.unknown(key, "v", "type", "body") {
				return nil, false
			}
		}
		if more, ok = d.next('}'); !ok {
			return nil, false
		}
	}
	d.ws()
	if d.i != len(d.b) || seen != 7 || int64(int(v)) != v || !b.Supported(int(v)) {
		return nil, false
	}
	return m, true
}

// body parses the body object of a message of type t (its '{' consumed),
// with lists of at most max entries.
func body[C ~string](d *decoder, t []byte, max int) (any, bool) {
	switch string(t) {
	case TypePush:
		m := new(Push)
		return m, d.fields(func(key []byte, seen *uint8) bool {
			switch string(key) {
			case "batch":
				return d.once(seen, 1) && d.string(&m.Batch)
			case "events":
				return d.once(seen, 2) && d.events(&m.Events, max)
			}
			return d.unknown(key, "batch", "events")
		})
	case TypeAck:
		m := new(Ack[C])
		return m, d.fields(func(key []byte, seen *uint8) bool {
			switch string(key) {
			case "batch":
				return d.once(seen, 1) && d.string(&m.Batch)
			case "results":
				return d.once(seen, 2) && results(d, &m.Results, max)
			}
			return d.unknown(key, "batch", "results")
		})
	case TypeEvents:
		m := new(Events)
		return m, d.eventsBody(&m.Events, &m.Cursor, max)
	case TypeLive:
		m := new(Live)
		return m, d.eventsBody(&m.Events, &m.Cursor, max)
	}
	return nil, false
}

// eventsBody parses the members of an events or live body.
func (d *decoder) eventsBody(events *[]Event, cursor *int64, max int) bool {
	return d.fields(func(key []byte, seen *uint8) bool {
		switch string(key) {
		case "events":
			return d.once(seen, 1) && d.events(events, max)
		case "cursor":
			return d.once(seen, 2) && d.int(cursor)
		}
		return d.unknown(key, "events", "cursor")
	})
}

// fields parses the members of an object whose '{' is consumed, calling
// field for each key with the value next; field parses the value.
func (d *decoder) fields(field func(key []byte, seen *uint8) bool) bool {
	var seen uint8
	for more := !d.closing('}'); more; {
		key, ok := d.key()
		if !ok || !field(key, &seen) {
			return false
		}
		if more, ok = d.next('}'); !ok {
			return false
		}
	}
	return true
}

// events parses a list of events: at most max, an empty list giving nil,
// each event with the defaults filled in as decodeEvents leaves it.
func (d *decoder) events(out *[]Event, max int) bool {
	if !d.open('[') {
		return false
	}
	if d.closing(']') {
		return true
	}
	events := make([]Event, 0, d.listHint(max, minEventBytes))
	for more := true; more; {
		if len(events) == max {
			return false // encoding/json's path counts and reports it
		}
		events = append(events, Event{})
		d.share = len(events) > 1 // the first event has nothing to share with
		if !d.event(&events[len(events)-1]) {
			return false
		}
		var ok bool
		if more, ok = d.next(']'); !ok {
			return false
		}
	}
	for i := range events {
		fillDefaults(&events[i])
	}
	*out = events
	return true
}

// Bits of the event fields seen, to refuse duplicate keys.
const (
	fID = 1 << iota
	fStream
	fType
	fSchema
	fData
	fMeta
	fCreated
	fOrigin
	fHubPosition
)

var eventKeys = []string{"id", "stream", "type", "schema", "data", "meta", "created", "origin", "hub_position"}

// event parses one event object.
func (d *decoder) event(e *Event) bool {
	if !d.open('{') {
		return false
	}
	var seen uint16
	once := func(bit uint16) bool {
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	}
	for more := !d.closing('}'); more; {
		key, ok := d.key()
		if !ok {
			return false
		}
		switch string(key) {
		case "id":
			ok = once(fID) && d.string(&e.ID)
		case "stream":
			ok = once(fStream) && d.sharedString(&e.Stream)
		case "type":
			ok = once(fType) && d.sharedString(&e.Type)
		case "schema":
			var v int64
			ok = once(fSchema) && d.int(&v) && int64(int(v)) == v
			e.Schema = int(v)
		case "data":
			ok = once(fData) && d.raw(&e.Data)
		case "meta":
			ok = once(fMeta) && d.raw(&e.Meta)
		case "created":
			ok = once(fCreated) && d.timestamp(&e.Created)
		case "origin":
			ok = once(fOrigin) && d.sharedString(&e.Origin)
		case "hub_position":
			ok = once(fHubPosition) && d.int(&e.HubPosition)
		default:
			ok = d.unknown(key, eventKeys...)
		}
		if !ok {
			return false
		}
		if more, ok = d.next('}'); !ok {
			return false
		}
	}
	return true
}

// The fewest bytes an event and an ack result take in a frame that passes
// validation (an event carries a 26-character ID, a stream, a type and a
// 16-digit created; a result an ID and a position or a reason), for
// listHint.
const (
	minEventBytes  = 80
	minResultBytes = 32
)

// listHint is the capacity to start a list of at most limit entries with,
// each taking at least entryBytes of the frame's bytes left, and no more
// than 64: a live frame of one small event gets room for a few, not 64.
// Longer lists grow by append, as they did before there was a hint.
func (d *decoder) listHint(limit, entryBytes int) int {
	return max(1, min(limit, 64, (len(d.b)-d.i)/entryBytes))
}

// results parses a list of ack results: at most max, an empty list giving
// nil.
func results[C ~string](d *decoder, out *[]AckResult[C], max int) bool {
	if !d.open('[') {
		return false
	}
	if d.closing(']') {
		return true
	}
	results := make([]AckResult[C], 0, d.listHint(max, minResultBytes))
	for more := true; more; {
		if len(results) == max {
			return false
		}
		results = append(results, AckResult[C]{})
		r := &results[len(results)-1]
		if !d.open('{') {
			return false
		}
		if !d.fields(func(key []byte, seen *uint8) bool {
			switch string(key) {
			case "id":
				return d.once(seen, 1) && d.string(&r.ID)
			case "hub_position":
				return d.once(seen, 2) && d.int(&r.HubPosition)
			case "duplicate":
				return d.once(seen, 4) && d.bool(&r.Duplicate)
			case "code":
				var s string
				ok := d.once(seen, 8) && d.string(&s)
				r.Code = C(s)
				return ok
			case "reason":
				return d.once(seen, 16) && d.string(&r.Reason)
			case "retry_after_ms":
				return d.once(seen, 32) && d.int(&r.RetryAfterMS)
			}
			return d.unknown(key, "id", "hub_position", "duplicate", "code", "reason", "retry_after_ms")
		}) {
			return false
		}
		var ok bool
		if more, ok = d.next(']'); !ok {
			return false
		}
	}
	*out = results
	return true
}

// once records bit in seen and reports false when it was set already (a
// duplicate key, which the fast decoder leaves to encoding/json).
func (d *decoder) once(seen *uint8, bit uint8) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// unknown skips the value of an unknown key. It reports false when key
// might match one of known the way encoding/json matches keys (ignoring
// case, with Unicode folding), or when the value is not valid JSON.
func (d *decoder) unknown(key []byte, known ...string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			return false
		}
	}
	for _, k := range known {
		if bytes.EqualFold(key, []byte(k)) {
			return false
		}
	}
	return d.value(0)
}
