// Package postgres is the PostgreSQL backend of the event store (pgx/v5 and
// pgxpool): the hub's store. Many tenants share one database; Open connects
// and migrates the schema once per process, and DB.Store returns a
// tenant-scoped eventstore.Store whose every query carries the tenant as its
// first parameter, so it can neither read nor write another tenant's rows.
//
// # Positions are gap-safe (no BIGSERIAL)
//
// Position is per tenant and is taken from a counter row,
// tenants(tenant, head). The first statement of every appending transaction
// locks that row (creating it on first use):
//
//	SELECT head FROM tenants WHERE tenant = $1 FOR UPDATE
//	-- or, the first time, INSERT ... ON CONFLICT (tenant) DO UPDATE
//
// and the statement that stores the events numbers them head+1, head+2, ...
// and adds their number to head, in the same transaction. Expected versions
// (in that statement, or before it for batches that go through COPY) and
// caller-supplied IDs (before it) are checked after the lock, so an Append
// that fails (even one whose error the caller swallows before committing)
// moves nothing. The lock and the storing statement are sent as one
// pipeline: an Append costs one round trip, plus BEGIN and COMMIT inside
// Update; Store.Append outside Update sends the pipeline as an implicit
// transaction, one round trip in all.
//
// That row lock is held until commit, so appends of one tenant serialise on
// it: positions are contiguous, a rollback gives its numbers back (no holes),
// and transactions commit in position order. A reader following ReadAll with
// "position > cursor" therefore can never see position p+1 committed while p
// is still in flight. A BIGSERIAL (or any sequence) is assigned at insert
// time, not at commit time: a transaction holding position 7 may commit after
// one holding 8, and a reader that already moved its cursor to 8 skips 7 for
// ever; a rolled back transaction leaves a permanent hole. The price of the
// counter row is that appends of one tenant do not run in parallel; appends
// of different tenants do. Expected-version checks run after the tenant lock
// is taken, so they are race-free.
//
// Inside Store.Update, take the tenant lock (Append or Insert) before
// writing rows that other transactions of the tenant also lock (checkpoints,
// state), or two transactions may deadlock; PostgreSQL then aborts one of
// them with SQLSTATE 40P01, which is returned wrapped. The one exception is
// Tx.Checkpoint, which locks its checkpoint's row (so concurrent runners of
// one projector apply each batch once) before a handler of that projector
// may append: a transaction must not append and then read or set the
// checkpoint of a projector that is running elsewhere (an inline projector
// and an async one of the same name, say).
//
// # HubPosition equals Position
//
// The hub's ledger is the hub ordering: every event this backend stores gets
// HubPosition = Position, for Append and Insert alike (an incoming
// HubPosition is not kept: the hub is the authority that assigns it). Insert
// otherwise records what it is given: Hydrated is true, Outdated is computed,
// duplicates by ID are reported and left alone. As a consequence ReadPending
// is empty on a hub store, and SetHubPositions only affects events that lack
// a hub position (which a hub store never creates). Options.RecordHubPositions
// switches to the replica semantics of the eventstore contract instead (the
// conformance suite checks those).
//
// # Multi-node wake-up
//
// Append and Insert run pg_notify on the channel "ferry_events" inside their
// transaction (PostgreSQL delivers it at commit), with a JSON payload naming
// the schema and tenant. Each DB runs one listener goroutine on a dedicated
// connection (outside the pool) that LISTENs on that channel, reconnects
// with backoff when the connection drops, and wakes the Wait calls of the
// tenant's stores. Wait also polls the head once per PollInterval, so a lost
// notification costs latency, never correctness.
//
// # Bulk writes
//
// A batch of 64 events or more is written with COPY: the store reads the
// latest stored event of each (stream, type) of the batch (one row each in
// stream_types), computes Outdated in Go, copies the rows into events, then
// one statement bumps stream versions, stream_types and the tenant head and
// deletes the snapshots invalidated by late events. Smaller batches use a
// single INSERT ... SELECT FROM unnest($2::bigint[], $3::text[], ...)
// statement whose CTEs do the same bookkeeping set-based. Either way a call
// costs a fixed number of round trips whatever its size, with no
// per-event query. The choice was measured (1,000-event batches into the
// events table): COPY inserts rows about 1.3x faster than the unnest
// statement, which is about 1.7x faster than a pgx.Batch of single-row
// INSERTs; the paths break even between 32 and 64 events. bench_test.go
// compares Append and Insert with a raw pgx.Batch baseline in the same run.
//
// Insert first stores a batch as if all of it were new, inside a
// savepoint, so the common case costs no lookup. Only a batch holding
// already stored IDs (a re-sent push) fails with a unique violation; it
// rolls back to the savepoint, looks the IDs up (exact, under the tenant
// lock) and stores the new events alone, at contiguous positions. Each
// Insert call thus opens one (released) subtransaction: keep the number of
// Insert calls inside one Store.Update well under 64, PostgreSQL's
// per-transaction subtransaction cache.
//
// # Layout
//
// Every table lives in one schema (Options.Schema, default "ferry"), created
// and migrated on Open under a transaction-scoped advisory lock, so several
// syncd processes starting at once do not race. The recorded version is in
// schema_migrations; a database written by a newer Ferry is refused with
// eventstore.ErrIncompatibleSchema. Text columns use the "C" collation so
// that SQL orders names and ids byte-wise, as the other backends do.
//
// Iterators stream rows with keyset pagination (pages of up to 1,000 rows):
// memory stays bounded, and a consumer that stops early drains at most one
// page. An iterator holds a pool connection while the consumer's loop body
// runs; nested store calls in the loop take another one.
package postgres
