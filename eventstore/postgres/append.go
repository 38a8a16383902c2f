package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/internal/backend"
)

// lockSQL takes the tenant's counter row (creating it on first use) and
// returns its head. It is the first statement of every appending
// transaction: the row lock serialises the tenant's appends until commit,
// which is what makes positions gap-free and commit-ordered. The head only
// grows in appendSQL (or bookkeepSQL), by the number of events stored, so an append
// that fails after taking the lock (a version conflict the caller catches
// inside Update, say) leaves no hole. The notification is delivered at
// commit, and not at all on rollback.
//
// The row is locked with FOR UPDATE rather than by a no-op update: a lock
// writes a small WAL record and no new row version, and the row is
// updated once per append anyway (appendSQL's bump). Only a tenant's first
// append takes the INSERT branch; one racing another's first append waits
// in ON CONFLICT DO UPDATE, which locks the row the other created.
const lockSQL = `WITH l AS (
	SELECT head FROM {s}.tenants WHERE tenant = $1 FOR UPDATE
), c AS (
	INSERT INTO {s}.tenants AS t (tenant, head) SELECT $1, 0 WHERE NOT EXISTS (SELECT FROM l)
	ON CONFLICT (tenant) DO UPDATE SET head = t.head
	RETURNING t.head
)
SELECT head, pg_notify($2, $3) IS NULL FROM (SELECT head FROM l UNION ALL SELECT head FROM c) h`

// lockQuietSQL is lockSQL without the notification, for the appends whose
// appendSQL notifies when it stores events (see appendPipelined).
const lockQuietSQL = `WITH l AS (
	SELECT head FROM {s}.tenants WHERE tenant = $1 FOR UPDATE
), c AS (
	INSERT INTO {s}.tenants AS t (tenant, head) SELECT $1, 0 WHERE NOT EXISTS (SELECT FROM l)
	ON CONFLICT (tenant) DO UPDATE SET head = t.head
	RETURNING t.head
)
SELECT head FROM l UNION ALL SELECT head FROM c`

// appendSQL stores a batch of events, numbered head+1, head+2, ... in
// batch order after the tenant's head (read from its counter row, which
// the transaction has locked), in one multi-row INSERT ... SELECT FROM
// unnest(...) whose CTEs do the rest of the bookkeeping set-based:
//   - expected versions: the writes of an Append ($15..$18: stream, the
//     bounds of its expectation, its number of events; empty for Insert)
//     are checked in call order against the stored versions; the first
//     that fails stores nothing and is returned as a conflict row;
//   - outdated: the latest stored event of the event's (stream, type),
//     kept in stream_types (one row per group, not an index entry per
//     event), sorts after the new event, or an earlier event of the batch
//     does (a running max over a byte-wise sort key of created and id);
//   - stream versions grow by the number of events stored per stream, and
//     stream_types keeps the latest (created, id) of each (stream, type);
//   - snapshots whose cursor is past the earliest new event of their stream
//     are deleted (late-event invalidation);
//   - the tenant's head grows by the number of events stored, and a
//     commit notification is queued when there are any.
//
// It returns the position and outdated flag of every stored event, or one
// row with the failed write's index (1-based) and its stream's version. A
// stored ID fails the statement with a unique violation: Append checks
// caller-supplied IDs beforehand, Insert retries without the duplicates.
// On a hub ($14) an event's hub position is its position.
const appendSQL = `WITH h AS (
	SELECT head FROM {s}.tenants WHERE tenant = $1
), writes AS (
	SELECT * FROM unnest($15::text[], $16::bigint[], $17::bigint[], $18::bigint[]) WITH ORDINALITY AS w(stream, lo, hi, n, k)
), checks AS (
	SELECT w.k, w.lo, w.hi, coalesce(st.version, 0)
		+ coalesce(sum(w.n) OVER (PARTITION BY w.stream ORDER BY w.k ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS actual
	FROM writes w LEFT JOIN {s}.streams st ON st.tenant = $1 AND st.stream = w.stream
), conflict AS (
	SELECT k, actual FROM checks WHERE actual NOT BETWEEN lo AND hi ORDER BY k LIMIT 1
), input AS (
	SELECT (SELECT head FROM h) + t.ord AS position, t.*
	FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::bytea[], $7::bytea[],
		$8::bigint[], $9::text[], $10::bigint[], $11::text[])
	WITH ORDINALITY AS t(id, stream, type, schema, data, meta, created, origin, hub_position, sort_key, ord)
	WHERE NOT EXISTS (SELECT FROM conflict)
), latest AS (
	SELECT lt.stream, lt.type, lt.created, lt.id FROM {s}.stream_types lt
	WHERE lt.tenant = $1 AND (lt.stream, lt.type) IN (SELECT stream, type FROM input)
), calc AS (
	SELECT i.*,
		(coalesce((l.created, l.id) > (i.created, i.id), false)
		OR coalesce(max(i.sort_key COLLATE "C") OVER w > i.sort_key COLLATE "C", false))
		AND NOT i.type = ANY($13::text[]) AS outdated
	FROM input i LEFT JOIN latest l ON l.stream = i.stream AND l.type = i.type
	WINDOW w AS (PARTITION BY i.stream, i.type ORDER BY i.ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), ins AS (
	INSERT INTO {s}.events (tenant, position, id, stream, type, schema, data, meta, created, origin, hub_position, hydrated, outdated)
	SELECT $1, position, id, stream, type, schema, data, meta, created, origin,
		CASE WHEN $14 THEN position ELSE hub_position END, $12, outdated
	FROM calc ORDER BY ord
	RETURNING position, stream, type, created, id, outdated
), versions AS (
	INSERT INTO {s}.streams AS st (tenant, stream, version)
	SELECT $1, stream, count(*) FROM ins GROUP BY stream
	ON CONFLICT (tenant, stream) DO UPDATE SET version = st.version + EXCLUDED.version
), type_heads AS (
	INSERT INTO {s}.stream_types AS lt (tenant, stream, type, created, id)
	SELECT DISTINCT ON (stream, type) $1, stream, type, created, id FROM ins ORDER BY stream, type, created DESC, id DESC
	ON CONFLICT (tenant, stream, type) DO UPDATE SET created = EXCLUDED.created, id = EXCLUDED.id
	WHERE (EXCLUDED.created, EXCLUDED.id) > (lt.created, lt.id)
), firsts AS (
	SELECT DISTINCT ON (stream) stream, created, id FROM ins ORDER BY stream, created, id
), invalidated AS (
	DELETE FROM {s}.snapshots sn USING firsts f
	WHERE sn.tenant = $1 AND sn.stream = f.stream AND (sn.cursor_created, sn.cursor_id) > (f.created, f.id)
), stored AS (
	SELECT count(*) AS n FROM ins
), bump AS (
	UPDATE {s}.tenants SET head = head + stored.n FROM stored WHERE tenant = $1 AND stored.n > 0
), notified AS (
	SELECT pg_notify($19, $20) IS NULL FROM stored WHERE n > 0
)
SELECT position, outdated, 0::bigint, 0::bigint FROM ins, notified
UNION ALL
SELECT 0, false, k, actual FROM conflict`

// commutative returns the commutative types among events' (never outdated,
// see eventstore.EventType.Commutative); usually none.
func commutative(s *Store, events []eventstore.Event) []string {
	out := []string{}
	for i := range events {
		if typ := events[i].Type; s.core.Commutative(typ) && !slices.Contains(out, typ) {
			out = append(out, typ)
		}
	}
	return out
}

// lock takes the tenant lock and returns the head.
func (t *Tx) lock(ctx context.Context) (int64, error) {
	var (
		head int64
		void bool
	)
	err := t.tx.QueryRow(ctx, t.s.db.q(lockSQL), t.s.tenant, notifyChannel, t.s.db.notifyPayload(t.s.tenant)).Scan(&head, &void)
	return head, err
}

// store writes events (distinct IDs, none stored) numbered after head:
// with COPY (storeCopy) for large batches, appendSQL for small ones.
// insert marks them hydrated. It sets the Position, HubPosition (on a hub,
// the Position) and Outdated of the events.
func (t *Tx) store(ctx context.Context, events []eventstore.Event, head int64, insert bool) error {
	if len(events) >= copyThreshold {
		return t.storeCopy(ctx, events, head, insert)
	}
	rows, err := t.tx.Query(ctx, t.s.db.q(appendSQL), t.s.db.appendArgs(t.s, events, insert, nil)...)
	if err != nil {
		return err
	}
	got, conflict, err := readStored(rows, events, t.s.db.hub)
	if err != nil {
		return err
	}
	if conflict != nil || got != head {
		return fmt.Errorf("stored after head %d, locked head %d", got, head)
	}
	return nil
}

// appendArgs returns appendSQL's arguments for events and, for an Append
// that checks expected versions, its writes.
func (db *DB) appendArgs(s *Store, events []eventstore.Event, insert bool, writes []eventstore.Write) []any {
	n := len(events)
	var (
		ids     = make([]string, n)
		streams = make([]string, n)
		types   = make([]string, n)
		schemas = make([]int32, n)
		data    = make([][]byte, n)
		meta    = make([][]byte, n)
		created = make([]int64, n)
		origins = make([]string, n)
		hubPos  = make([]int64, n)
		keys    = make([]string, n)
	)
	for i := range events {
		e := &events[i]
		ids[i], streams[i], types[i] = e.ID, e.Stream, e.Type
		schemas[i], data[i], meta[i], created[i] = int32(e.Schema), e.Data, e.Meta, int64(e.Created)
		origins[i], hubPos[i], keys[i] = e.Origin, e.HubPosition, e.Created.String()+e.ID
	}
	var (
		wStreams = make([]string, len(writes))
		wLo      = make([]int64, len(writes))
		wHi      = make([]int64, len(writes))
		wN       = make([]int64, len(writes))
	)
	for i, w := range writes {
		wStreams[i], wN[i] = w.Stream, int64(len(w.Events))
		wLo[i], wHi[i] = w.Expect.Bounds()
	}
	return []any{s.tenant, ids, streams, types, schemas, data, meta, created, origins, hubPos, keys,
		insert, commutative(s, events), db.hub, wStreams, wLo, wHi, wN, notifyChannel, db.notifyPayload(s.tenant)}
}

// readStored reads appendSQL's rows into events (Position, HubPosition on
// a hub, Outdated) and returns the head they were stored after, or the
// conflict of the first write whose expectation failed (nothing stored).
func readStored(rows pgx.Rows, events []eventstore.Event, hub bool) (head int64, conflict *storeConflict, err error) {
	defer rows.Close()
	n := len(events)
	positions := make([]int64, 0, n)
	outdated := make([]bool, 0, n)
	for rows.Next() {
		var (
			pos  int64
			out  bool
			k, v int64
		)
		if err := rows.Scan(&pos, &out, &k, &v); err != nil {
			return 0, nil, err
		}
		if k > 0 {
			conflict = &storeConflict{write: int(k - 1), actual: v}
			continue
		}
		positions, outdated = append(positions, pos), append(outdated, out)
	}
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	if conflict != nil {
		return 0, conflict, nil
	}
	if len(positions) != n {
		return 0, nil, fmt.Errorf("stored %d of %d events", len(positions), n)
	}
	head = slices.Min(positions) - 1
	for j, pos := range positions {
		i := pos - head - 1
		if i < 0 || i >= int64(n) {
			return 0, nil, fmt.Errorf("position %d out of the batch's range", pos)
		}
		events[i].Position, events[i].Outdated = pos, outdated[j]
		if hub {
			events[i].HubPosition = pos
		}
	}
	return head, nil, nil
}

// storeConflict is appendSQL's report of a failed expected version: the
// index of the write in the Append call and its stream's version.
type storeConflict struct {
	write  int
	actual int64
}

// checkCreated rejects timestamps that do not fit the BIGINT column (more
// than 2^63: a physical time beyond the year 6400).
func checkCreated(events []eventstore.Event) error {
	for _, e := range events {
		if e.Created > math.MaxInt64 {
			return &eventstore.ValidationError{EventID: e.ID, Type: e.Type, Field: "created", Reason: "timestamp out of range"}
		}
	}
	return nil
}

// prepareAppend validates and completes the events of an Append (IDs,
// timestamps, origin) and reports whether any write checks its stream's
// version; the first one resumes the clock, reading through q.
func (s *Store) prepareAppend(ctx context.Context, q querier, writes []eventstore.Write) (events []eventstore.Event, checks bool, err error) {
	if err := s.resumeClock(ctx, q); err != nil {
		return nil, false, err
	}
	events, err = s.core.PrepareAppend(writes)
	if err != nil {
		return nil, false, err
	}
	if err := checkCreated(events); err != nil {
		return nil, false, err
	}
	seen := make(map[string]struct{}, len(events))
	for _, e := range events {
		if _, dup := seen[e.ID]; dup {
			return nil, false, fmt.Errorf("append %s: %w", e.Stream, backend.DuplicateIDError(e))
		}
		seen[e.ID] = struct{}{}
	}
	for _, w := range writes {
		checks = checks || w.Expect != eventstore.Any
	}
	return events, checks, nil
}

// pipelined reports whether an Append of writes takes the one-round-trip
// path (appendPipelined): it stores events with appendSQL (fewer than
// copyThreshold, at least one) and none of them carries a caller-supplied
// ID, which would need checking first.
func pipelined(writes []eventstore.Write) bool {
	n := 0
	for _, w := range writes {
		for _, e := range w.Events {
			if e.ID != "" {
				return false
			}
			n++
		}
	}
	return n > 0 && n < copyThreshold
}

// batchSender is what both the pool (an implicit transaction per batch)
// and a transaction offer.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// appendPipelined sends the tenant lock and appendSQL, which checks the
// writes' expected versions and stores events, as one pipeline: one round
// trip. appendSQL runs after the lock is granted, so its snapshot holds
// every append committed before, and its checks are race-free as
// checkVersions' are. On a conflict nothing is stored or notified.
func (s *Store) appendPipelined(ctx context.Context, q batchSender, writes []eventstore.Write, events []eventstore.Event) error {
	b := &pgx.Batch{}
	b.Queue(s.db.q(lockQuietSQL), s.tenant)
	b.Queue(s.db.q(appendSQL), s.db.appendArgs(s, events, false, writes)...)
	br := q.SendBatch(ctx, b)
	var head int64
	if err := br.QueryRow().Scan(&head); err != nil {
		_ = br.Close()
		return wrapErr("append: lock tenant", err)
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return wrapErr("append "+events[0].Stream, err)
	}
	got, conflict, err := readStored(rows, events, s.db.hub)
	if err == nil {
		err = br.Close()
	} else {
		_ = br.Close()
	}
	if err != nil {
		return wrapErr("append "+events[0].Stream, err)
	}
	if conflict != nil {
		w := writes[conflict.write]
		if err := w.Expect.Check(w.Stream, conflict.actual); err != nil {
			return err
		}
		return fmt.Errorf("append %s: version %d reported as a conflict with %s", w.Stream, conflict.actual, w.Expect)
	}
	if got != head {
		return fmt.Errorf("append %s: stored after head %d, locked head %d", events[0].Stream, got, head)
	}
	return nil
}

// Append implements eventstore.Store. Most appends (fewer than
// copyThreshold events, IDs generated by the store) take the tenant lock,
// check the expected versions and store the events in one round trip
// (appendPipelined); with no OnAppend hook to run, outside Update, that
// round trip is the whole transaction.
func (s *Store) Append(ctx context.Context, writes ...eventstore.Write) ([]eventstore.Event, error) {
	if s.core.OnAppend != nil || !pipelined(writes) {
		return s.AutoCommit.Append(ctx, writes...)
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	events, _, err := s.prepareAppend(ctx, s.db.pool, writes)
	if err != nil {
		return nil, err
	}
	// Sent outside a transaction, the pipeline runs as one implicit
	// transaction, committed at its end or rolled back on an error.
	if err := s.appendPipelined(ctx, s.db.pool, writes, events); err != nil {
		return nil, err
	}
	s.db.broadcast(s.tenant)
	return events, nil
}

// Append implements eventstore.Tx. It takes the tenant lock first, then
// checks the expected versions (race-free under the lock) and that no
// caller-supplied ID is stored, then stores all events with one statement.
// Appends without caller-supplied IDs and below copyThreshold do all of
// it in one round trip (appendPipelined).
func (t *Tx) Append(ctx context.Context, writes ...eventstore.Write) ([]eventstore.Event, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	events, checks, err := t.s.prepareAppend(ctx, t.tx, writes)
	if err != nil {
		return nil, err
	}
	if len(events) == 0 && !checks {
		return events, nil
	}
	if pipelined(writes) {
		if err := t.s.appendPipelined(ctx, t.tx, writes, events); err != nil {
			return nil, err
		}
	} else {
		if err := t.appendLocked(ctx, writes, events, checks); err != nil {
			return nil, err
		}
		if len(events) == 0 {
			return events, nil
		}
	}
	t.wrote = true
	if err := t.s.core.AfterAppend(ctx, t, events); err != nil {
		return nil, err
	}
	return events, nil
}

// appendLocked is Append in steps: lock, versions, caller-supplied IDs,
// then store (COPY for large batches).
func (t *Tx) appendLocked(ctx context.Context, writes []eventstore.Write, events []eventstore.Event, checks bool) error {
	head, err := t.lock(ctx)
	if err != nil {
		return wrapErr("append: lock tenant", err)
	}
	if checks {
		if err := t.checkVersions(ctx, writes); err != nil {
			return err
		}
	}
	if len(events) == 0 {
		return nil
	}
	if err := t.checkIDs(ctx, writes, events); err != nil {
		return err
	}
	if err := t.store(ctx, events, head, false); err != nil {
		return wrapErr("append "+events[0].Stream, err)
	}
	return nil
}

// checkVersions checks each write's expectation against its stream's
// version as left by the earlier writes of the same call.
func (t *Tx) checkVersions(ctx context.Context, writes []eventstore.Write) error {
	names := make([]string, 0, len(writes))
	for _, w := range writes {
		names = append(names, w.Stream)
	}
	rows, err := t.tx.Query(ctx, t.s.db.q(`SELECT stream, version FROM {s}.streams WHERE tenant = $1 AND stream = ANY($2)`), t.s.tenant, names)
	if err != nil {
		return wrapErr("append: read versions", err)
	}
	versions := make(map[string]int64, len(writes))
	for rows.Next() {
		var (
			name string
			v    int64
		)
		if err := rows.Scan(&name, &v); err != nil {
			rows.Close()
			return wrapErr("append: read versions", err)
		}
		versions[name] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return wrapErr("append: read versions", err)
	}
	for _, w := range writes {
		v := versions[w.Stream]
		if err := w.Expect.Check(w.Stream, v); err != nil {
			return err
		}
		versions[w.Stream] = v + int64(len(w.Events))
	}
	return nil
}

// checkIDs fails with DuplicateIDError when a caller-supplied ID among
// events is already stored (IDs the store generated are new by
// construction). It runs before anything is written, so a failed Append
// writes nothing even if the caller goes on to commit the transaction.
func (t *Tx) checkIDs(ctx context.Context, writes []eventstore.Write, events []eventstore.Event) error {
	var given []string
	i := 0
	for _, w := range writes {
		for _, e := range w.Events {
			if e.ID != "" {
				given = append(given, events[i].ID)
			}
			i++
		}
	}
	if len(given) == 0 {
		return nil
	}
	var id string
	err := t.tx.QueryRow(ctx, t.s.db.q(`SELECT id FROM {s}.events WHERE tenant = $1 AND id = ANY($2) LIMIT 1`), t.s.tenant, given).Scan(&id)
	if isNoRows(err) {
		return nil
	}
	if err != nil {
		return wrapErr("append: check ids", err)
	}
	for _, e := range events {
		if e.ID == id {
			return fmt.Errorf("append %s: %w", e.Stream, backend.DuplicateIDError(e))
		}
	}
	return fmt.Errorf("append: %w", backend.DuplicateIDError(eventstore.Event{ID: id}))
}

// Insert implements eventstore.Store. It takes the tenant lock, then
// stores the batch as if all of it were new, inside a savepoint: the common
// case costs no lookup. Only a batch holding stored IDs (a re-sent push)
// fails with a unique violation; it then rolls back to the savepoint, looks
// the batch's IDs up (exact, under the lock) and stores the new events
// alone, at contiguous positions after the head.
func (t *Tx) Insert(ctx context.Context, events ...eventstore.Event) ([]eventstore.InsertResult, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	events, err := t.s.core.PrepareInsert(events)
	if err != nil {
		return nil, err
	}
	if err := checkCreated(events); err != nil {
		return nil, err
	}
	results := make([]eventstore.InsertResult, len(events))
	if len(events) == 0 {
		return results, nil
	}
	// A repeated ID within the batch is a duplicate of its first occurrence:
	// only first occurrences go to the database, carrying the first hub
	// position any copy knows (as a duplicate of a stored event would).
	fresh := make([]eventstore.Event, 0, len(events))
	seen := make(map[string]int, len(events))
	var conflicts map[int]bool // later copies whose content differs from the first's
	for j, e := range events {
		i, dup := seen[e.ID]
		if !dup {
			seen[e.ID] = len(fresh)
			fresh = append(fresh, e)
			continue
		}
		if fresh[i].HubPosition == 0 && e.HubPosition > 0 {
			if !eventstore.SameContent(fresh[i], e) { // the hub position is another event's
				if conflicts == nil {
					conflicts = make(map[int]bool)
				}
				conflicts[j] = true
				continue
			}
			fresh[i].HubPosition = e.HubPosition
		}
	}
	head, err := t.lock(ctx)
	if err != nil {
		return nil, wrapErr("insert: lock tenant", err)
	}
	known, err := t.storeFresh(ctx, fresh, head)
	if err != nil {
		return nil, wrapErr("insert", err)
	}
	byID := make(map[string]eventstore.InsertResult, len(fresh))
	for _, e := range fresh {
		if r, ok := known[e.ID]; ok {
			byID[e.ID] = r
			continue
		}
		byID[e.ID] = eventstore.InsertResult{Event: e, Inserted: true}
		t.wrote = true
	}
	for i, e := range events {
		r := byID[e.ID]
		if !r.Inserted {
			e.Position, e.Outdated = r.Event.Position, r.Event.Outdated
			r.Event = e
		}
		results[i] = r
		results[i].Conflict = r.Conflict || conflicts[i]
		if r.Inserted {
			r.Inserted = false // a later repeat of the ID is a duplicate
			byID[e.ID] = r
		}
	}
	return results, nil
}

// storeFresh stores the events of an Insert batch that are not stored yet
// and returns the results of those that were. On return, the stored ones
// among events carry their Position and Outdated.
func (t *Tx) storeFresh(ctx context.Context, events []eventstore.Event, head int64) (map[string]eventstore.InsertResult, error) {
	if _, err := t.tx.Exec(ctx, "SAVEPOINT ferry_insert"); err != nil {
		return nil, err
	}
	err := t.store(ctx, events, head, true)
	if err == nil {
		_, err = t.tx.Exec(ctx, "RELEASE SAVEPOINT ferry_insert")
		return nil, err
	}
	if !isDuplicateID(err) {
		return nil, err
	}
	if _, err := t.tx.Exec(ctx, "ROLLBACK TO SAVEPOINT ferry_insert; RELEASE SAVEPOINT ferry_insert"); err != nil {
		return nil, err
	}
	known, err := t.lookup(ctx, events)
	if err != nil {
		return nil, err
	}
	fresh := events[:0:0]
	for _, e := range events {
		if _, ok := known[e.ID]; !ok {
			fresh = append(fresh, e)
		}
	}
	if len(fresh) > 0 {
		if err := t.store(ctx, fresh, head, true); err != nil {
			return nil, err
		}
		stored := make(map[string]eventstore.Event, len(fresh))
		for _, e := range fresh {
			stored[e.ID] = e
		}
		for i := range events {
			if e, ok := stored[events[i].ID]; ok {
				events[i] = e
			}
		}
	}
	return known, nil
}

// lookup returns the stored events among events (by ID) as duplicate
// results and, on a replica, records an incoming hub position that a stored
// copy lacks.
func (t *Tx) lookup(ctx context.Context, events []eventstore.Event) (map[string]eventstore.InsertResult, error) {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	// The payloads are read only for copies without a hub position (a
	// replica's local events), the only ones compared: a hub's resent
	// batch reads none.
	rows, err := t.tx.Query(ctx, t.s.db.q(`SELECT id, position, outdated, hub_position,
	stream, type, schema, CASE WHEN hub_position = 0 THEN data END, CASE WHEN hub_position = 0 THEN meta END,
	created, origin FROM {s}.events
WHERE tenant = $1 AND id = ANY($2)`), t.s.tenant, ids)
	if err != nil {
		return nil, fmt.Errorf("look up ids: %w", err)
	}
	known := make(map[string]eventstore.InsertResult)
	lacking := make(map[string]eventstore.Event) // stored copies without a hub position
	for rows.Next() {
		var (
			r       eventstore.InsertResult
			c       eventstore.Event // the stored content
			hub     int64
			schema  int32
			created int64
		)
		if err := rows.Scan(&r.Event.ID, &r.Event.Position, &r.Event.Outdated, &hub,
			&c.Stream, &c.Type, &schema, &c.Data, &c.Meta, &created, &c.Origin); err != nil {
			rows.Close()
			return nil, fmt.Errorf("look up ids: %w", err)
		}
		known[r.Event.ID] = r
		if hub == 0 {
			c.ID, c.Schema, c.Created = r.Event.ID, int(schema), eventstore.Timestamp(created)
			lacking[r.Event.ID] = c
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up ids: %w", err)
	}
	var ackIDs []string
	var ackHubs []int64
	for _, e := range events {
		c, ok := lacking[e.ID]
		if !ok || e.HubPosition <= 0 || t.s.db.hub {
			continue
		}
		if !eventstore.SameContent(c, e) { // the hub position is another event's
			r := known[e.ID]
			r.Conflict = true
			known[e.ID] = r
			continue
		}
		ackIDs, ackHubs = append(ackIDs, e.ID), append(ackHubs, e.HubPosition)
	}
	if len(ackIDs) > 0 {
		if _, err := t.tx.Exec(ctx, t.s.db.q(`UPDATE {s}.events e SET hub_position = a.hub_position
FROM unnest($2::text[], $3::bigint[]) AS a(id, hub_position)
WHERE e.tenant = $1 AND e.id = a.id AND e.hub_position = 0`), t.s.tenant, ackIDs, ackHubs); err != nil {
			return nil, fmt.Errorf("record hub positions: %w", err)
		}
	}
	return known, nil
}
