package eventstore

import (
	"context"
	"database/sql"
	"iter"
	"log/slog"
)

// Store is the contract every backend implements: an append-only ledger of
// events with per-stream optimistic concurrency, plus the small amount of
// state that lives beside events (relations, snapshots, checkpoints,
// key/value state). Every Writer method on a Store commits on its own; use
// Update to group writes in one transaction.
//
// All methods are safe for concurrent use.
type Store interface {
	Reader
	Writer
	// Update runs fn in one transaction: everything fn writes through tx
	// commits together when fn returns nil, and nothing does when it
	// returns an error (which Update returns). Backends whose read models
	// can live in the same database expose the underlying transaction on
	// their Tx type (see the sqlite and postgres packages).
	Update(ctx context.Context, fn func(tx Tx) error) error
	// Close releases the store's resources. Iterators must be finished first.
	Close() error
}

// Reader is the read side of a Store.
//
// Iterators stream rows from the backend: they hold one event at a time (a
// backend may hold a bounded run of events that share a Created value, to
// order them by ID), so a stream of a million events is read in bounded
// memory. An iterator yields at
// most one non-nil error, as its last element.
type Reader interface {
	// ReadStream yields the events of one stream in (Created, ID) order, or
	// the reverse with opts.Reverse.
	ReadStream(ctx context.Context, stream string, opts ReadOptions) iter.Seq2[Event, error]
	// ReadStreams yields the events of several streams merged in
	// (Created, ID) order, as ReadStream does for one.
	ReadStreams(ctx context.Context, streams []string, opts ReadOptions) iter.Seq2[Event, error]
	// ReadAll yields the ledger in Position order from after+1, at most
	// limit events (limit <= 0: no limit).
	ReadAll(ctx context.Context, after int64, limit int) iter.Seq2[Event, error]
	// ReadPending yields, in Position order from after+1, the events this
	// store created locally that the hub has not acknowledged (HubPosition
	// 0 and not Hydrated): the sync outbox.
	ReadPending(ctx context.Context, after int64, limit int) iter.Seq2[Event, error]
	// Head returns the highest Position in the ledger (0 when empty).
	Head(ctx context.Context) (int64, error)
	// Wait blocks until the ledger's head is greater than after, and
	// returns the head; or returns ctx's error. It does not poll in a tight
	// loop: it wakes on commits made through this store (and, per backend,
	// through other processes sharing the database).
	Wait(ctx context.Context, after int64) (int64, error)
	// Status reports whether e (by ID) is stored and whether a later event
	// of the same stream and type is stored.
	Status(ctx context.Context, e Event) (EventStatus, error)
	// StreamVersion returns the number of events in stream (0 if none).
	StreamVersion(ctx context.Context, stream string) (int64, error)
	// ListStreams returns streams ordered by name, one page at a time.
	ListStreams(ctx context.Context, opts ListOptions) ([]StreamInfo, error)
	// StreamsByKeys returns the distinct streams related to any of keys,
	// sorted by name.
	StreamsByKeys(ctx context.Context, keys ...string) ([]string, error)
	// LoadSnapshot returns the snapshot name of stream, or ErrNotFound.
	LoadSnapshot(ctx context.Context, name, stream string) (Snapshot, error)
	// Checkpoint returns the saved position of name, 0 when none.
	Checkpoint(ctx context.Context, name string) (int64, error)
	// State returns the value stored under key, or ErrNotFound.
	State(ctx context.Context, key string) ([]byte, error)
	// ListState returns the entries whose key starts with prefix, by key.
	ListState(ctx context.Context, prefix string) ([]KeyValue, error)
}

// Writer is the write side of a Store, also available inside a transaction
// as Tx.
type Writer interface {
	// Append stores events created by this node. Each Write's expectation is
	// checked against its stream's version; when any fails, Append returns a
	// *ConflictError and stores nothing. All writes commit atomically, and
	// an invalid event (unknown type, bad payload) fails the whole call. The
	// returned events carry their assigned ID, Created, Origin and Position.
	Append(ctx context.Context, writes ...Write) ([]Event, error)
	// Insert stores events created elsewhere (sync). Events whose ID is
	// already stored are reported as duplicates and left alone, except that
	// a known HubPosition is recorded on a local event that lacked one.
	// Inserted events are Hydrated, get Outdated computed, and advance the
	// clock; an event too far in the future fails with ErrClockDrift. The
	// call is atomic: an invalid event stores nothing.
	Insert(ctx context.Context, events ...Event) ([]InsertResult, error)
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
	// AddRelations relates key to streams (idempotent).
	AddRelations(ctx context.Context, key string, streams ...string) error
	// RemoveRelations removes the relations of key to streams; with no
	// streams it removes every relation of key.
	RemoveRelations(ctx context.Context, key string, streams ...string) error
	// SaveSnapshot stores s, replacing the previous one of its name and
	// stream. A snapshot whose cursor is already passed by a stored event
	// that arrived late is still accepted; invalidation happens when later
	// events are inserted before its cursor.
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// DeleteSnapshot deletes a snapshot; with an empty name it deletes every
	// snapshot of stream.
	DeleteSnapshot(ctx context.Context, name, stream string) error
	// SetCheckpoint saves position under name.
	SetCheckpoint(ctx context.Context, name string, position int64) error
	// SetState stores value under key.
	SetState(ctx context.Context, key string, value []byte) error
	// DeleteState removes key (no error if absent).
	DeleteState(ctx context.Context, key string) error
}

// Tx is a transaction in progress (see Store.Update). It must not be used
// after the function it was passed to returns.
type Tx interface {
	Writer
	// StreamVersion returns the version of stream as seen inside tx.
	StreamVersion(ctx context.Context, stream string) (int64, error)
	// Checkpoint returns the checkpoint of name as seen inside tx.
	Checkpoint(ctx context.Context, name string) (int64, error)
	// State returns the value of key as seen inside tx, or ErrNotFound.
	State(ctx context.Context, key string) ([]byte, error)
}

// ReadOptions narrows ReadStream and ReadStreams. The zero value reads
// everything in (Created, ID) order.
type ReadOptions struct {
	// Types keeps only events of these types (empty: all).
	Types []string
	// After keeps events strictly after this cursor (zero: no bound).
	After Cursor
	// Before keeps events strictly before this cursor (zero: no bound).
	Before Cursor
	// Until keeps events whose Created is at most Until (zero: no bound).
	// It is the time-travel bound: state "as of" a timestamp.
	Until Timestamp
	// Limit yields at most this many events (<= 0: no limit).
	Limit int
	// Reverse reads newest first.
	Reverse bool
}

// ListOptions pages through ListStreams.
type ListOptions struct {
	// Prefix keeps streams whose name starts with Prefix.
	Prefix string
	// After returns streams whose name sorts after After (the last name of
	// the previous page).
	After string
	// Limit caps the page size; <= 0 means DefaultPageSize.
	Limit int
}

// DefaultPageSize is ListStreams' page size when none is given.
const DefaultPageSize = 100

// Limits on the event envelope, enforced by every backend.
const (
	// MaxStreamLen is the longest stream name, in bytes.
	MaxStreamLen = 512
	// MaxTypeLen is the longest event type name, in bytes.
	MaxTypeLen = 256
	// MaxOriginLen is the longest origin id, in bytes.
	MaxOriginLen = 128
	// MaxEventBytes bounds len(Data)+len(Meta).
	MaxEventBytes = 1 << 20
)

// Config holds what every backend needs beyond its connection details.
type Config struct {
	// Registry validates event types and payloads. Nil accepts any type:
	// right for a hub that relays events it does not interpret, wrong for
	// an app, which should register its types.
	Registry *Registry
	// Clock stamps local events and observes remote ones. Nil: NewClock().
	Clock *Clock
	// Origin is this node's id, recorded on local events. Backends default
	// it (the SQLite backend persists a generated id in the database file).
	Origin string
	// Logger receives diagnostics. Nil discards them.
	Logger *slog.Logger
	// OnAppend, when set, runs inside the transaction of every Append,
	// after the events are stored and before commit; an error aborts the
	// append. The projector's effects outbox uses it to record pending side
	// effects atomically with the local events that cause them.
	OnAppend func(ctx context.Context, tx Tx, events []Event) error
}

// SQLTx is implemented by the Tx of backends built on database/sql (the
// SQLite backend). Read models stored in the same database write through
// SQL(), so they commit atomically with events and checkpoints.
type SQLTx interface {
	Tx
	SQL() *sql.Tx
}
