// Package projector turns an event store's ledger into read models and side
// effects.
//
// # Handlers
//
// Handlers are registered per event type on a [Handlers] set with the
// generic functions [On], [All] and [Once]; each decodes the event's Data
// into the handler's payload type. Which handlers run for an event is fixed
// by its Hydrated and Outdated flags (see [Gate]):
//
//	hydrated outdated  handlers
//	false    false     once, on, all
//	true     false     on, all
//	false    true      all
//	true     true      all
//
// Outdated is last-writer-wins per stream and event type. On handlers keep
// read models current, so a late event that lost to a newer one of the same
// stream and type (Outdated) never overwrites what the newer one wrote. For
// types whose events add up rather than replace each other (counters,
// stock adjustments), register the type Commutative
// (eventstore.EventType.Commutative): its events are never Outdated, so On
// handlers see every one of them on every device. All handlers see everything (audit, counters). Once handlers
// are side effects (email, third-party calls). [OnBatch] and [AllBatch]
// register batch handlers, which get all the events of one projector
// transaction in one call: the fast path for catch-up and rebuild into SQL
// tables.
//
// # Projectors
//
// A [Projector] is a named, durable subscription to the ledger. It reads
// from its checkpoint, waits for new events without polling, and handles
// each batch of events inside one store transaction that also advances its
// checkpoint: read models written through the transaction (for the SQLite
// backend, through [eventstore.SQLTx]) commit atomically with the
// checkpoint, so a crash never applies an event twice and never skips one.
// A projector runs On and All handlers only. [Projector.Run] follows the
// ledger; [Projector.CatchUp] stops at the head; [Projector.WaitFor] gives
// read-your-writes; Options.OnError picks [Stop], [Retry] or [Skip] (see
// [Projector.Failures]); Options.Progress reports done/total for progress
// bars. Two runners of one projector (two processes, or Run during a
// Rebuild) are safe: each transaction checks the stored checkpoint first.
// [Projector.ProjectInserted] lets a writer that inserts events (a sync
// client's pull: sync/client's Config.Projectors) have the projector handle
// them inside its own transaction when the projector is in step with the
// ledger; Run then finds them done.
//
// # Effects
//
// Once handlers run through an [Effects] outbox. Its [Effects.Hook] is
// installed as the store's [eventstore.Config.OnAppend], so a pending-effect
// record is written in the same transaction as every local event that has
// Once handlers. [Effects.Run] executes pending effects after commit, marks
// them done, retries failures with backoff and parks them as failed when the
// retries run out. Because the hook runs only for local appends, effects
// never fire for events that arrived through sync, nor during replay or
// rebuild, nor on another device. Effects are at-least-once: a crash between
// an effect and its done record runs it again, with the same idempotency key
// (the event ID).
//
// # Rebuild
//
// [Projector.Rebuild] resets a read model and its checkpoint and replays the
// whole ledger with Hydrated forced true. [Versioned] builds a new version of
// a read model while the current one keeps serving, then switches.
//
// # Rejections
//
// An event the hub rejected reaches no handler (see [Gate]): a rebuild
// leaves it out of every read model. When the rejection arrives after a
// projector handled the event, [Projector.ProjectRejected] (called by
// sync/client inside the transaction that records the rejection) runs
// Options.Reset and moves the checkpoint back to 0 in that transaction;
// Run or CatchUp then replays the ledger without the event. The read model
// ends equal to what a rebuild produces, by being one. Rejections are rare
// (a token scoped to other streams, an event over the hub's limits), so
// the replay's cost is paid rarely; without a Reset the projector records
// a Failure and keeps the event until a Rebuild.
//
// # State keys
//
// The package keeps its records in the store's key/value state under
// "ferry/effect/" (effects) and "ferry/projector/<name>/" (skipped
// failures, active versions).
package projector
