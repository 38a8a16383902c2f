// Package eventstore defines Ferry's event record, its hybrid logical clock
// (HLC), event identifiers, the event type registry, the core Store
// contract that every backend (memory, SQLite, PostgreSQL) implements, and
// the capability interfaces a backend adds to it.
//
// # Core and capabilities
//
// [Store] is the small core: append with expected versions, insert of
// remote events, stream and ledger reads, wait, a transaction, close. What
// only some callers need is a capability of its own, found where it is
// used, as database/sql finds a driver's optional interfaces:
// [Checkpoints], [KeyValues] and [StateLister], [Snapshots], [Relations],
// [StreamLister], [StatusReader], and the edge replica's [Outbox]. A
// consumer names the capabilities it needs in its own interface (the
// projector's Store, the sync client's Store, the hub's Ledger), so a
// missing one is a compile error; inside Update, [As], [KeyValuesOf] and
// [CheckpointsOf] reach the Tx's half of a capability.
//
// The package imports no database or network driver. Backends live in the
// leaf packages eventstore/memory, eventstore/sqlite and eventstore/postgres,
// and all of them pass the one conformance suite in eventstore/storetest.
//
// # Ordering
//
// A stream is always read in (Created, ID) order, never in arrival order, so
// every replica that holds the same set of events folds the same state.
// Position is a store's own arrival order (its ledger) and is what projector
// checkpoints and sync cursors follow.
//
// # Local and remote events
//
// [Store.Append] stores events created by this node, with an expected
// version per stream for optimistic concurrency. [Store.Insert] stores
// events that were created elsewhere and arrived through sync: it is
// idempotent by ID, marks the events Hydrated, computes Outdated and
// advances the local clock past them.
package eventstore
