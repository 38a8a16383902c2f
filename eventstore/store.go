package eventstore

import (
	"context"
	"iter"
	"log/slog"
)

// Store is the core contract every backend implements: an append-only
// ledger of events with per-stream optimistic concurrency. It is what an
// event-sourced app and a sync hub both need; everything else a backend may
// offer (checkpoints, key/value state, snapshots, relations, the edge
// outbox) is a capability interface of its own, found where it is used (see
// capability.go).
//
// Iterators stream rows from the backend: they hold one event at a time (a
// backend may hold a bounded run of events that share a Created value, to
// order them by ID), so a stream of a million events is read in bounded
// memory. An iterator yields at most one non-nil error, as its last element.
//
// All methods are safe for concurrent use.
type Store interface {
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
	// call is atomic: an invalid event stores nothing. The results hold the
	// stored events, one per input event, in input order.
	Insert(ctx context.Context, events ...Event) ([]InsertResult, error)
	// ReadStream yields the events of one stream in (Created, ID) order, or
	// the reverse with opts.Reverse.
	ReadStream(ctx context.Context, stream string, opts ReadOptions) iter.Seq2[Event, error]
	// ReadStreams yields the events of several streams merged in
	// (Created, ID) order, as ReadStream does for one.
	ReadStreams(ctx context.Context, streams []string, opts ReadOptions) iter.Seq2[Event, error]
	// ReadAll yields the ledger in Position order from after+1, at most
	// limit events (limit <= 0: no limit).
	ReadAll(ctx context.Context, after int64, limit int) iter.Seq2[Event, error]
	// Head returns the highest Position in the ledger (0 when empty).
	Head(ctx context.Context) (int64, error)
	// Wait blocks until the ledger's head is greater than after, and
	// returns the head; or returns ctx's error. It does not poll in a tight
	// loop: it wakes on commits made through this store (and, per backend,
	// through other processes sharing the database).
	Wait(ctx context.Context, after int64) (int64, error)
	// StreamVersion returns the number of events in stream (0 if none).
	StreamVersion(ctx context.Context, stream string) (int64, error)
	// Update runs fn in one transaction: everything fn writes through tx
	// commits together when fn returns nil, and nothing does when it
	// returns an error (which Update returns). The tx implements the
	// transactional half of every capability the store implements (a
	// store that is a Checkpoints has a tx that is one too).
	Update(ctx context.Context, fn func(tx Tx) error) error
	// Close releases the store's resources. Iterators must be finished first.
	Close() error
}

// Tx is a transaction in progress (see Store.Update). It must not be used
// after the function it was passed to returns. Reach its capabilities by
// type assertion, or with [As] for an error that names what is missing.
type Tx interface {
	// Append is Store.Append inside the transaction.
	Append(ctx context.Context, writes ...Write) ([]Event, error)
	// Insert is Store.Insert inside the transaction.
	Insert(ctx context.Context, events ...Event) ([]InsertResult, error)
	// StreamVersion returns the version of stream as seen inside tx.
	StreamVersion(ctx context.Context, stream string) (int64, error)
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
	// RefuseUnknown makes Insert fail, as Append does, on an event the
	// Registry refuses. By default the edge stores (memory, SQLite) keep
	// such an event, flagged Unknown, so that an app keeps syncing with a
	// newer version of itself (see Event.Unknown and Reviver); a hub that
	// validates what it relays sets RefuseUnknown, and the PostgreSQL
	// store always refuses.
	RefuseUnknown bool
	// Clock stamps local events and observes remote ones. Nil: NewClock().
	Clock *Clock
	// Origin is this node's id, recorded on local events. Backends default
	// it. The SQLite backend keeps it in the database file on first open
	// (a generated id when empty) and refuses another one later with an
	// *OriginError; empty means the stored one.
	Origin string
	// Logger receives diagnostics. Nil discards them.
	Logger *slog.Logger
	// OnAppend, when set, runs inside the transaction of every Append,
	// after the events are stored and before commit; an error aborts the
	// append. The projector's effects outbox uses it to record pending side
	// effects atomically with the local events that cause them.
	OnAppend func(ctx context.Context, tx Tx, events []Event) error
}
