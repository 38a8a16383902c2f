// Package client is the edge side of Ferry's sync: a Replicator keeps an
// app's local event store (SQLite in practice) in sync with a hub (syncd)
// over the WebSocket protocol of sync/protocol.
//
//	r, err := client.New(store, client.Config{URL: "wss://hub.example/sync", TokenFunc: login})
//	go r.Run(ctx)            // apps: push, pull, stay live, reconnect
//	stats, err := r.SyncOnce(ctx) // CLIs and tests: push all, pull until caught up
//
// The app never waits for the network: it appends to its store as usual,
// and the Replicator pushes what the store committed whenever the hub is
// reachable, for as long as it takes (days offline are fine).
//
// # A connection
//
// The Replicator dials the hub with "Authorization: Bearer <token>" (an
// HTTP 401 or 403 is ErrUnauthorized, a failed dial ErrUnreachable), sends
// Hello with its device id and persisted cursor, and after Welcome does
// two things at once:
//
//   - Push: the outbox (Store.ReadPending: local events without a hub
//     position) is sent in Position order, in batches sized with
//     protocol.BatchSizer under the smaller of the hub's limits and
//     Config.Limits, up to Config.Pipeline pushes in flight. Each Ack
//     records the hub positions (Store.SetHubPositions) and rejections in
//     one transaction. A push whose ack is lost is sent again on the next
//     connection; the hub dedups by event id and acks it again with the
//     same positions, so nothing is stored twice.
//   - Pull: the hub streams every event after the cursor, in hub order.
//     Each message (with the messages already queued behind it, up to
//     Config.PullBatch events) is applied in ONE Store.Update: Tx.Insert
//     (dedup by id, Outdated computed, HLC observed, events marked
//     Hydrated; a duplicate that is one of this store's own events gets
//     its hub position recorded) and Tx.SetState of the cursor. A crash before the commit
//     loses both, so the events are pulled again; a crash after keeps both.
//     The cursor never passes an event that is not stored.
//
// Projectors follow the store's ledger on their own (see the projector
// package), so pulled events reach read models with Hydrated set and never
// fire Once effects. Listing them in Config.Projectors also has them handle
// pulled events inside the pull's transaction (Projector): the read model
// commits with the events and the cursor, with no second transaction and no
// re-reading of the events, and a large catch-up does not leave the read
// models to catch up afterwards. A projector that is behind the ledger, or
// whose handler fails there, is left to its own run. A client's own events
// coming back from the hub are duplicates: Insert does not add them to the
// ledger, so they are not projected again.
//
// Pulled events of a type (or payload) the app's registry refuses, written
// by a newer app version, are kept by the store flagged Unknown
// (eventstore.Event.Unknown) and the pull goes on; the app's folds and
// projectors skip them until an upgraded app revives them
// (eventstore.Reviver). If pulled events cannot be stored at all (an
// envelope the store refuses, a clock too far ahead, the store's own
// failure), the connection ends with ErrApply and the cursor stays before
// them: they are retried on the next connection, never skipped. Before it
// ends, the session records the acks of its pushes still in flight, so a
// push the hub stored is never left pending.
//
// # Clocks
//
// Welcome carries the hub's time (protocol version 2): the replicator
// measures its store clock's offset from it and corrects the clock
// (eventstore.Clock.SetOffset, found through eventstore.Clocked), persisting
// the offset under KeyClockOffset. A local event stamped too far ahead of
// the hub's clock is deferred by the hub, not rejected: it stays pending,
// Stats.Deferred counts it, Run pushes it again when the hub's hint is due,
// and every later sync pushes it with the outbox.
//
// SyncOnce ends when the outbox is empty, every push is acked and the hub
// has sent CaughtUp. Run stays connected after catch-up: it pushes new
// local events as the store commits them (Store.Wait) and applies Live
// messages as the hub sends them.
//
// # Reconnecting
//
// Run reconnects after any failure, waiting a random delay up to
// min(Backoff.Max, Backoff.Initial·2ⁿ) after the n-th failure in a row
// ("full jitter"), and at least as long as the hub's retry hint
// (protocol.Error.RetryAfterMS, or an HTTP Retry-After header). The
// failure count resets once a connection catches up. Each connection
// resumes from the persisted cursor, on whichever hub node answers.
//
// # Rejected events
//
// The hub may reject single events of a push (a stream outside the
// token's scope, a type it refuses, clock drift from a hub of protocol
// version 1), and the client itself
// refuses to send an event that breaks the hub's limits
// (protocol.Limits.CheckEvent). A rejected event never blocks the outbox
// and is never retried: in one transaction it is marked rejected in the
// store (Tx.Reject) and recorded under RejectedPrefix+id in the store's
// state (a JSON Rejection with the code, reason and time). From then on
// the store leaves it out of ReadStream, ReadStreams, stream versions and
// ReadPending, so folds (reducers, aggregates) no longer see it, no later
// push sends it and Status.Pending does not count it; the events behind it
// keep flowing. It stays in the ledger with Event.Rejected set, so a
// projector following ReadAll can undo what it did with it. Rejections
// lists the rejections, Status.Rejected counts them, and SyncOnce lists
// those of its session in Stats.Rejections (they are not an error: the
// sync worked).
//
// # Persisted state
//
// Everything lives in the store's key/value state under StatePrefix
// ("ferry/sync/"): the cursor (KeyCursor), when the store last caught up
// (KeyLastSync), the last attempt (KeyLastAttempt), whether the hub was
// reachable then (KeyOnline), the last error (KeyLastError) and the
// rejections. Status reads them, with the pending count, offline as well
// as while Run is running. The cursor belongs to one hub (one tenant's
// ledger): point a store that has synced with one hub at another and it
// will skip that hub's events up to the old cursor.
package client
