package eventstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
)

// Capabilities. A backend implements the core Store and, on top of it, the
// capabilities it can offer; a consumer names the ones it needs in its own
// interface (the projector asks for Store + Checkpoints + KeyValues +
// StateLister) or finds them by type assertion, as database/sql finds a
// driver's optional interfaces. Where a capability has writes, the Tx of a
// store that offers it implements the write half (the interfaces ending in
// Writer, or the whole capability when it has no separate half), so the
// writes can join an Update.
//
// The memory and SQLite backends implement every capability. The PostgreSQL
// backend, a hub ledger and a server-side event store, implements all but
// Outbox and Evicter: it never holds local events waiting for a hub, nor
// streams a subscription dropped.

// Checkpoints stores named positions: a projector's progress through the
// ledger. Implemented by stores and their Tx.
type Checkpoints interface {
	// Checkpoint returns the saved position of name, 0 when none.
	Checkpoint(ctx context.Context, name string) (int64, error)
	// SetCheckpoint saves position under name.
	SetCheckpoint(ctx context.Context, name string, position int64) error
}

// KeyValues is a small key/value bag beside the ledger (sync cursors, read
// models, the effects outbox). Implemented by stores and their Tx.
type KeyValues interface {
	// State returns the value stored under key, or ErrNotFound.
	State(ctx context.Context, key string) ([]byte, error)
	// SetState stores value under key.
	SetState(ctx context.Context, key string, value []byte) error
	// DeleteState removes key (no error if absent).
	DeleteState(ctx context.Context, key string) error
}

// StateLister lists key/value entries by prefix. Implemented by stores.
type StateLister interface {
	// ListState returns the entries whose key starts with prefix, by key.
	ListState(ctx context.Context, prefix string) ([]KeyValue, error)
}

// SnapshotWriter saves and deletes snapshots. Implemented by stores and
// their Tx.
type SnapshotWriter interface {
	// SaveSnapshot stores s, replacing the previous one of its name and
	// stream. A snapshot whose cursor is already passed by a stored event
	// that arrived late is still accepted; invalidation happens when later
	// events are inserted before its cursor.
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// DeleteSnapshot deletes a snapshot; with an empty name it deletes every
	// snapshot of stream.
	DeleteSnapshot(ctx context.Context, name, stream string) error
}

// Snapshots keeps folded state per stream, invalidated by late events.
// Implemented by stores.
type Snapshots interface {
	SnapshotWriter
	// LoadSnapshot returns the snapshot name of stream, or ErrNotFound.
	LoadSnapshot(ctx context.Context, name, stream string) (Snapshot, error)
}

// RelationWriter relates keys to streams. Implemented by stores and their
// Tx.
type RelationWriter interface {
	// AddRelations relates key to streams (idempotent).
	AddRelations(ctx context.Context, key string, streams ...string) error
	// RemoveRelations removes the relations of key to streams; with no
	// streams it removes every relation of key.
	RemoveRelations(ctx context.Context, key string, streams ...string) error
}

// Relations finds streams by key (a user's tasks, an order's lines).
// Implemented by stores.
type Relations interface {
	RelationWriter
	// StreamsByKeys returns the distinct streams related to any of keys,
	// sorted by name.
	StreamsByKeys(ctx context.Context, keys ...string) ([]string, error)
}

// OutboxWriter records what the hub said of local events. Implemented by
// the stores of edge replicas and their Tx.
type OutboxWriter interface {
	// SetHubPositions records hub acknowledgements of local events. Unknown
	// IDs and positions <= 0 are ignored, and an event that already has a
	// hub position keeps it.
	SetHubPositions(ctx context.Context, acks ...HubAck) error
	// Reject marks local events the hub refused. A rejected event stays in
	// the ledger (ReadAll yields it with Rejected set, so projectors can
	// react) but from then on is excluded from ReadStream, ReadStreams,
	// ReadPending, StreamVersion and ListStreams versions (a stream whose
	// events are all rejected is not listed), and no longer makes other
	// events outdated for Status or for events stored later. Snapshots of
	// its stream at or after it are deleted, since they may have folded
	// it. Status still reports a rejected event as existing, and Insert of
	// its ID is a duplicate. Unknown IDs, hydrated events and events that
	// already have a hub position are ignored; rejecting twice is a no-op.
	// The Outdated flags it caused are re-derived as if it had never been
	// stored: an earlier event of its stream and type, stored after it,
	// stays outdated only if another remaining event, stored before that
	// one, sorts after it. So replicas that never held it agree.
	Reject(ctx context.Context, ids ...string) error
}

// Repairer corrects an edge replica's copy of the hub's ledger, where a
// sync found it differs from the hub's (see sync/client's repair):
// implemented by the SQLite and memory stores' Tx.
type Repairer interface {
	// RepairEvent makes the stored event with e's ID hold e's content and
	// hub position, and returns its local Position and whether its content
	// (Schema, Data, Meta or Origin) changed. It returns ErrNotFound when
	// no event has the ID, and an error unwrapping to ErrInvalidEvent when
	// the two differ in Stream, Type or Created: the store's stream order
	// rests on those, so such a copy is reported, not rewritten.
	RepairEvent(ctx context.Context, e Event) (position int64, changed bool, err error)
	// Unacknowledge clears the hub position of the events with these IDs:
	// the hub does not hold them where the store recorded. Local events
	// become pending again (pushed by the next sync); others wait for the
	// hub to send them again.
	Unacknowledge(ctx context.Context, ids ...string) error
}

// Outbox is the sync outbox of an edge replica: the local events the hub
// has not acknowledged. Implemented by the memory and SQLite stores.
type Outbox interface {
	OutboxWriter
	// ReadPending yields, in Position order from after+1, the events this
	// store created locally that the hub has not acknowledged (HubPosition
	// 0 and not Hydrated).
	ReadPending(ctx context.Context, after int64, limit int) iter.Seq2[Event, error]
}

// Evicter removes whole streams from an edge replica that no longer
// pulls them (sync/client's Config.Evict): implemented by the memory and
// SQLite stores' Tx. The PostgreSQL store, a hub's ledger, has none: As
// reports an *UnsupportedError.
type Evicter interface {
	// Evict removes streams whole: every event of theirs (rejected and
	// unknown ones included) from the ledger and every read, their
	// version and per-type records, their snapshots and the relations
	// to them. The store then reads them as empty (version 0, not
	// listed) and holds nothing of them: an event of theirs inserted
	// later (a backfill) is new to it. Positions are never given again:
	// Head does not go down, so checkpoints and cursors past the removed
	// events stay valid. Checkpoints and key/value state are untouched.
	// Unknown names are ignored; it returns what it removed.
	//
	// A stream that holds a local event the hub has not acknowledged (one
	// ReadPending yields) is never evicted, lest the event be lost: Evict
	// then removes nothing and returns an *UnpushedError naming those
	// streams (errors.Is ErrUnpushed).
	Evict(ctx context.Context, streams ...string) (Evicted, error)
}

// Evicted reports what Evicter.Evict removed.
type Evicted struct {
	// Events counts the events removed.
	Events int
	// First is the lowest Position among them (0: none), from which a
	// read model that handled them must be rebuilt.
	First int64
}

// Reviver is implemented by the edge stores that keep events of unknown
// types (Event.Unknown): the memory and SQLite stores. An app upgraded to a
// version whose Registry knows those types revives them; its projectors
// then replay them (see projector.Projector.CatchUp).
type Reviver interface {
	// Revive validates every event stored Unknown against the store's
	// Registry as it is now (upcasting first where the Registry has an
	// Upcaster), clears the flag on those it accepts and numbers them
	// (Event.Revived) in Position order, after every earlier revival, in
	// one transaction. Their Outdated flags are re-derived for their
	// types as now registered (a type declared Commutative is never
	// Outdated), and the snapshots of their streams are deleted, since a
	// fold that skipped them is stale. It returns how many it revived. The
	// SQLite store calls it on Open when it has a Registry.
	Revive(ctx context.Context) (int, error)
	// ReadRevived yields, in revival order, the revived events whose
	// Revived number is greater than after, at most limit (<= 0: all).
	ReadRevived(ctx context.Context, after int64, limit int) iter.Seq2[Event, error]
	// Revived returns the greatest revival number stored (0: none), as this
	// process knows it: it costs no query, so a projector asks it before
	// every step and reads revivals only when it grew. Revivals made by
	// another process sharing the database show after a reopen.
	Revived() int64
}

// Clocked is implemented by stores that expose the HLC they stamp local
// events with and observe remote ones on (Config.Clock, or the one they
// made): the memory, SQLite and PostgreSQL stores. The sync client uses it
// to correct the clock by the offset the hub reports.
type Clocked interface {
	Clock() *Clock
}

// StreamLister pages through the streams a store holds. Implemented by
// stores.
type StreamLister interface {
	// ListStreams returns streams ordered by name, one page at a time.
	ListStreams(ctx context.Context, opts ListOptions) ([]StreamInfo, error)
}

// StatusReader tells whether an event is stored and whether it is
// outdated. Implemented by stores.
type StatusReader interface {
	// Status reports whether e (by ID) is stored and whether a later event
	// of the same stream and type is stored.
	Status(ctx context.Context, e Event) (EventStatus, error)
}

// SQLTx is implemented by the Tx of backends built on database/sql (the
// SQLite backend). Read models stored in the same database write through
// SQL(), so they commit atomically with events and checkpoints.
type SQLTx interface {
	Tx
	SQL() *sql.Tx
}

// ErrUnsupported reports a store or transaction that lacks a capability
// its caller needs.
var ErrUnsupported = errors.New("eventstore: capability not supported")

// UnsupportedError names the capability a store or transaction lacks. It
// unwraps to ErrUnsupported.
type UnsupportedError struct {
	// Capability is the interface's name, e.g. "eventstore.Checkpoints".
	Capability string
	// Have is the type that lacks it.
	Have string
}

// Error implements the error interface.
func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("eventstore: %s does not implement %s", e.Have, e.Capability)
}

// Unwrap returns ErrUnsupported.
func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

// As returns v as capability C, or an *UnsupportedError naming C and v's
// type. Use it inside Update to reach the Tx's half of a capability:
//
//	kv, err := eventstore.As[eventstore.KeyValues](tx)
func As[C any](v any) (C, error) {
	c, ok := v.(C)
	if !ok {
		return c, &UnsupportedError{Capability: fmt.Sprintf("%T", (*C)(nil))[1:], Have: fmt.Sprintf("%T", v)}
	}
	return c, nil
}

// KeyValuesOf returns v's key/value state (a store or a Tx). When v has
// none, every call fails with an *UnsupportedError, so a caller inside
// Update writes tx's state in one expression and handles the error where
// it handles any other.
func KeyValuesOf(v any) KeyValues {
	if kv, ok := v.(KeyValues); ok {
		return kv
	}
	return unsupported{missing(v, "KeyValues")}
}

// CheckpointsOf returns v's checkpoints (a store or a Tx), as KeyValuesOf
// does its state.
func CheckpointsOf(v any) Checkpoints {
	if cp, ok := v.(Checkpoints); ok {
		return cp
	}
	return unsupported{missing(v, "Checkpoints")}
}

func missing(v any, capability string) error {
	return &UnsupportedError{Capability: "eventstore." + capability, Have: fmt.Sprintf("%T", v)}
}

// unsupported is the capability of a store or tx that lacks it: every
// call fails with err.
type unsupported struct{ err error }

func (u unsupported) State(context.Context, string) ([]byte, error)      { return nil, u.err }
func (u unsupported) SetState(context.Context, string, []byte) error     { return u.err }
func (u unsupported) DeleteState(context.Context, string) error          { return u.err }
func (u unsupported) Checkpoint(context.Context, string) (int64, error)  { return 0, u.err }
func (u unsupported) SetCheckpoint(context.Context, string, int64) error { return u.err }
