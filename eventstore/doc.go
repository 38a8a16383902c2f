// Package eventstore defines Ferry's event record, its hybrid logical clock
// (HLC), event identifiers, the event type registry and the Store contract
// that every backend (memory, SQLite, PostgreSQL) implements.
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
// [Writer.Append] stores events created by this node, with an expected
// version per stream for optimistic concurrency. [Writer.Insert] stores
// events that were created elsewhere and arrived through sync: it is
// idempotent by ID, marks the events Hydrated, computes Outdated and
// advances the local clock past them.
package eventstore
