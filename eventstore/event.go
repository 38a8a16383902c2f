package eventstore

import (
	"encoding/json"
	"strings"

	"github.com/ferrysync/ferry/internal/wirejson"
)

// Event is one immutable fact in a stream.
//
// ID, Stream, Type, Schema, Data, Meta, Created and Origin travel with the
// event everywhere and never change. Position, HubPosition, Hydrated,
// Outdated and Rejected are facts about one store's copy of the event and
// are set by that store.
type Event struct {
	// ID is a ULID made where the event was created; the idempotency key.
	ID string
	// Stream is the entity the event belongs to (an aggregate id).
	Stream string
	// Type names the event, e.g. "task:created". It must be registered with
	// the store's Registry, when the store has one.
	Type string
	// Schema is the version of Type's payload the event was written with.
	// Stores record 1 when it is left zero.
	Schema int
	// Data is the event's JSON payload. Stores record {} when it is nil.
	Data json.RawMessage
	// Meta is JSON metadata (actor, device, causation). Stores record {}
	// when it is nil.
	Meta json.RawMessage
	// Created is the HLC timestamp set once at creation: the sort key of a
	// stream, ties broken by ID.
	Created Timestamp
	// Origin is the id of the node that created the event.
	Origin string
	// Position is this store's ledger sequence, assigned on insert.
	Position int64
	// HubPosition is the hub's sequence for the event, 0 until the hub has
	// acknowledged it.
	HubPosition int64
	// Hydrated is true when the event reached this store through Insert
	// (sync) rather than a local Append.
	Hydrated bool
	// Outdated is true when, as the store took the event in, it already held
	// a later event (by Created, then ID) of the same Stream and Type.
	Outdated bool
	// Rejected is true when the hub refused this local event and the store
	// recorded it (OutboxWriter.Reject). A rejected event is only seen through
	// ReadAll: stream reads, stream versions and the outbox leave it out.
	Rejected bool
	// Unknown is true when the store's Registry did not know the event's
	// type, or could not validate its payload, when the event arrived
	// through Insert (sync): an edge store keeps such an event as it came,
	// flagged, instead of refusing it, so that an older app version keeps
	// syncing with a newer one. Folds and projectors skip it by default
	// (see reducer.WithUnknownEvents and projector.Gate). The flag is
	// cleared when the store is opened with a Registry that accepts the
	// event (see Reviver).
	Unknown bool
	// Revived is the store's revival number of an event that was stored
	// Unknown and later accepted (see Reviver): revivals are numbered in
	// the order the store made them, from 1. It is 0 for every other event.
	Revived int64
}

// WithDefaults returns e with the defaults stores fill in when they store an
// event: Schema 1 when it is zero, and {} for a nil Data or Meta.
func (e Event) WithDefaults() Event {
	wirejson.Defaults(&e.Schema, &e.Data, &e.Meta)
	return e
}

// Cursor is a position in a stream's (Created, ID) order.
// The zero Cursor means "no bound".
type Cursor struct {
	Created Timestamp
	ID      string
}

// CursorOf returns the cursor of e.
func CursorOf(e Event) Cursor { return Cursor{Created: e.Created, ID: e.ID} }

// IsZero reports whether c is the zero Cursor.
func (c Cursor) IsZero() bool { return c.Created == 0 && c.ID == "" }

// Compare orders cursors by Created, then ID: -1, 0 or +1.
func (c Cursor) Compare(o Cursor) int {
	switch {
	case c.Created < o.Created:
		return -1
	case c.Created > o.Created:
		return 1
	}
	return strings.Compare(c.ID, o.ID)
}

// Write is the unit of Append: events for one stream and what the stream's
// version must be before they are added.
type Write struct {
	Stream string
	Expect ExpectedVersion
	// Events to append. Their Stream may be empty (it is set from Write) and
	// their ID, Created and Origin are assigned by the store when empty.
	Events []Event
}

// InsertResult reports what Insert did with one event.
type InsertResult struct {
	// Event is the stored event. For a new event it is exactly what the
	// store now holds: defaults filled in, Position assigned, Hydrated set
	// and Outdated computed, so a caller projects it as it is. For a
	// duplicate (Inserted false) only its ID, Position and Outdated are
	// the stored copy's: the rest is what the call was given.
	Event Event
	// Inserted is false when an event with the same ID was already stored
	// (a duplicate is not an error and is not stored again).
	Inserted bool
}

// HubAck records the hub position assigned to a locally created event.
type HubAck struct {
	ID          string
	HubPosition int64
}

// EventStatus tells what a store knows of an event (see StatusReader.Status).
type EventStatus struct {
	// Exists is true when an event with this ID is stored.
	Exists bool
	// Outdated is true when the store holds an event of the same Stream and
	// Type that sorts after this one (by Created, then ID).
	Outdated bool
}

// Snapshot is a saved fold of a stream up to and including Cursor.
type Snapshot struct {
	// Name identifies the reducer that produced State.
	Name   string
	Stream string
	// Cursor is the (Created, ID) of the last event folded into State. A
	// snapshot is deleted automatically when an event arrives that sorts at
	// or before it.
	Cursor Cursor
	// Version is the number of events folded into State.
	Version int64
	State   []byte
}

// StreamInfo is one row of ListStreams.
type StreamInfo struct {
	Name    string
	Version int64
}

// KeyValue is one entry of the store's small key/value state.
type KeyValue struct {
	Key   string
	Value []byte
}
