// Package ferry is an offline-first, event-sourced sync engine: every
// device keeps its own SQLite event store, works fully offline, and
// reconciles with a hub (cmd/syncd, on SQLite or PostgreSQL) over
// WebSockets whenever it can reach it. This package is the one wiring
// point of an app; the packages below it stay usable on their own.
//
// # An app in one screen
//
// Event types are defined once, typed, as package-level values; the same
// value registers the type, names it in handlers and folds, and makes new
// events:
//
//	type Adjusted struct{ By int }
//	var ItemAdjusted = ferry.Event[Adjusted]("item:adjusted", ferry.Commutative())
//
// Open wires the store, the device identity, SQL read models
// (Projection, with On and All handlers), side effects (Once) and sync:
//
//	app, err := ferry.Open(ctx, "app.db", ferry.Options{
//		Device:      "warehouse-a",
//		Projections: []ferry.Projection{stock},
//		Effects:     []ferry.Handler{ferry.Once(ItemAdjusted, "low-stock", alert)},
//		Sync:        ferry.SyncOptions{URL: "ws://127.0.0.1:8080/sync", Token: token},
//	})
//	defer app.Close()
//	_, err = app.Append(ctx, "item/nuts", ItemAdjusted.New(Adjusted{By: -3}))
//	err = app.Read(ctx, func(tx *sql.Tx) error { ... })   // read-only, typed
//	low, err := ferry.Query(ctx, app, ferry.Column[string], `SELECT item FROM stock WHERE qty < 5`)
//
// A long-running app calls App.Run, or App.Follow to also see each new
// event as it is stored (a "watch" command); a one-shot CLI calls App.Sync (push,
// pull, catch the read models up, run due effects) or App.CatchUp.
// Commands on aggregates go through Execute (NewAggregate, Fold,
// EventDef.Raise).
//
// # The rules that keep devices agreeing
//
//   - Streams fold in hybrid-logical-clock order, never arrival order, so
//     every device holding the same events computes the same state.
//   - Outdated is last-writer-wins per stream and event type: an event
//     that sorts before a stored one of its stream and type is Outdated,
//     and On handlers skip it (All handlers see it). Define additive types
//     Commutative: they are never Outdated.
//   - Once handlers (side effects) run for events appended on this device
//     only, through an outbox committed with the event: never for events
//     pulled from the hub, never on rebuild, at least once (use the event
//     ID as idempotency key). A failing one is retried with backoff;
//     App.Effects lists those not done, App.RetryEffect revives a failed one.
//   - An event the hub rejects reaches no handler: a rebuild leaves it out,
//     and when the rejection arrives, each projection that handled it is
//     reset (Projection.Reset) and replayed, so it ends equal to a rebuild.
//     Sync lists rejections in its result; they are not errors.
//   - A database keeps its device id: opening it as another device is an
//     error (eventstore.ErrOriginChanged).
//
// # The map of the library
//
//	eventstore            Event, HLC timestamps, ids, the registry, the Store contract and its capabilities
//	eventstore/sqlite     the edge store (and the embedded hub's)
//	eventstore/postgres   the production hub's store, multi-tenant
//	eventstore/memory     in-memory store for tests
//	reducer               typed folds, snapshots, upcasters, time travel
//	aggregate             aggregate roots, commands, optimistic concurrency
//	projector             On/All/Once handlers, checkpoints, effects outbox, rebuild
//	sync/client           the replicator an app embeds
//	sync/hub, cmd/syncd   the hub; it asks each tenant for a hub.Ledger
//	sync/hub/tenants      the hub's pool of tenant stores (bounded, idle ones closed)
//	sync/protocol         the wire protocol and its own wire Event
//	eventstore/storetest, projector/projectortest, sync/hub/ledgertest
//	                      the conformance suites every backend runs
//	sync/synctest         end-to-end tests with real syncd processes
//
// App.Store and App.Replicator reach the lower layers from an app.
package ferry
