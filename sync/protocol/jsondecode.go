package protocol

import (
	"bytes"
	"reflect"
	"slices"
	"unicode/utf8"

	"github.com/ferrysync/ferry/eventstore"
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
// handles; ok is false when Decode must take the encoding/json path. l has
// its defaults applied. The message is not validated.
func decodeFast(frame []byte, l Limits) (m Message, ok bool) {
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
			if m, ok = d.body(typ, l); !ok {
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
	if d.i != len(d.b) || seen != 7 || int64(int(v)) != v || !Supported(int(v)) {
		return nil, false
	}
	return m, true
}

// body parses the body object of a message of type t (its '{' consumed).
func (d *decoder) body(t []byte, l Limits) (Message, bool) {
	switch string(t) {
	case string(TypePush):
		m := new(Push)
		return m, d.fields(func(key []byte, seen *uint8) bool {
			switch string(key) {
			case "batch":
				return d.once(seen, 1) && d.string(&m.Batch)
			case "events":
				return d.once(seen, 2) && d.events(&m.Events, l)
			}
			return d.unknown(key, "batch", "events")
		})
	case string(TypeAck):
		m := new(Ack)
		return m, d.fields(func(key []byte, seen *uint8) bool {
			switch string(key) {
			case "batch":
				return d.once(seen, 1) && d.string(&m.Batch)
			case "results":
				return d.once(seen, 2) && d.results(&m.Results, l)
			}
			return d.unknown(key, "batch", "results")
		})
	case string(TypeEvents):
		m := new(Events)
		return m, d.fields(func(key []byte, seen *uint8) bool {
			switch string(key) {
			case "events":
				return d.once(seen, 1) && d.events(&m.Events, l)
			case "cursor":
				return d.once(seen, 2) && d.int(&m.Cursor)
			}
			return d.unknown(key, "events", "cursor")
		})
	case string(TypeLive):
		m := new(Live)
		return m, d.fields(func(key []byte, seen *uint8) bool {
			switch string(key) {
			case "events":
				return d.once(seen, 1) && d.events(&m.Events, l)
			case "cursor":
				return d.once(seen, 2) && d.int(&m.Cursor)
			}
			return d.unknown(key, "events", "cursor")
		})
	}
	return nil, false
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

// events parses a list of events: at most l.MaxEventsPerBatch, an empty
// list giving nil, each event in wire form as decodeEvents leaves it.
func (d *decoder) events(out *[]eventstore.Event, l Limits) bool {
	if !fastEvents || !d.open('[') {
		return false
	}
	if d.closing(']') {
		return true
	}
	events := make([]eventstore.Event, 0, d.listHint(l.MaxEventsPerBatch, minEventBytes))
	for more := true; more; {
		if len(events) == l.MaxEventsPerBatch {
			return false // encoding/json's path counts and reports it
		}
		events = append(events, eventstore.Event{})
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
		toWireForm(&events[i])
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
	fPosition
	fHubPosition
	fHydrated
	fOutdated
	fRejected
)

// eventSignature is eventstore.Event as the fast codec knows it: each
// field's name, type and JSON tag, in order.
var eventSignature = []string{
	"ID string id", "Stream string stream", "Type string type", "Schema int schema",
	"Data json.RawMessage data", "Meta json.RawMessage meta", "Created eventstore.Timestamp created",
	"Origin string origin", "Position int64 position,omitempty", "HubPosition int64 hub_position,omitempty",
	"Hydrated bool hydrated,omitempty", "Outdated bool outdated,omitempty", "Rejected bool rejected,omitempty",
}

// fastEvents reports whether eventstore.Event is the struct the fast codec
// was written for. When the struct changes, frames with events take the
// encoding/json path (still correct, only slower) and
// TestFastCodecKnowsEvent fails until the fast codec is updated.
var fastEvents = slices.Equal(signature(reflect.TypeFor[eventstore.Event]()), eventSignature)

// signature returns the name, type and JSON tag of each field of struct t.
func signature(t reflect.Type) []string {
	out := make([]string, t.NumField())
	for i := range out {
		f := t.Field(i)
		out[i] = f.Name + " " + f.Type.String() + " " + f.Tag.Get("json")
	}
	return out
}

var eventKeys = []string{"id", "stream", "type", "schema", "data", "meta", "created", "origin",
	"position", "hub_position", "hydrated", "outdated", "rejected"}

// event parses one event object.
func (d *decoder) event(e *eventstore.Event) bool {
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
		case "position":
			ok = once(fPosition) && d.int(&e.Position)
		case "hub_position":
			ok = once(fHubPosition) && d.int(&e.HubPosition)
		case "hydrated":
			ok = once(fHydrated) && d.bool(&e.Hydrated)
		case "outdated":
			ok = once(fOutdated) && d.bool(&e.Outdated)
		case "rejected":
			ok = once(fRejected) && d.bool(&e.Rejected)
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

// results parses a list of ack results: at most l.MaxEventsPerBatch, an
// empty list giving nil.
func (d *decoder) results(out *[]AckResult, l Limits) bool {
	if !d.open('[') {
		return false
	}
	if d.closing(']') {
		return true
	}
	results := make([]AckResult, 0, d.listHint(l.MaxEventsPerBatch, minResultBytes))
	for more := true; more; {
		if len(results) == l.MaxEventsPerBatch {
			return false
		}
		results = append(results, AckResult{})
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
				r.Code = Code(s)
				return ok
			case "reason":
				return d.once(seen, 16) && d.string(&r.Reason)
			}
			return d.unknown(key, "id", "hub_position", "duplicate", "code", "reason")
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
