package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"

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
const lockSQL = `WITH t AS (
	INSERT INTO {s}.tenants AS t (tenant, head) VALUES ($1, 0)
	ON CONFLICT (tenant) DO UPDATE SET head = t.head
	RETURNING t.head
)
SELECT head, pg_notify($2, $3) IS NULL FROM t`

// appendSQL stores a batch of events, numbered head+1, head+2, ... in
// batch order, in one multi-row INSERT ... SELECT FROM unnest(...) whose
// CTEs do the rest of the bookkeeping set-based:
//   - outdated: the latest stored event of the event's (stream, type),
//     kept in stream_types (one row per group, not an index entry per
//     event), sorts after the new event, or an earlier event of the batch
//     does (a running max over a byte-wise sort key of created and id);
//   - stream versions grow by the number of events stored per stream, and
//     stream_types keeps the latest (created, id) of each (stream, type);
//   - snapshots whose cursor is past the earliest new event of their stream
//     are deleted (late-event invalidation);
//   - the tenant's head grows by the number of events stored.
//
// It returns the position and outdated flag of every stored event. A
// stored ID fails the statement with a unique violation: Append checks
// caller-supplied IDs beforehand, Insert retries without the duplicates.
const appendSQL = `WITH input AS (
	SELECT * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::int[], $7::bytea[], $8::bytea[],
		$9::bigint[], $10::text[], $11::bigint[], $12::text[])
	WITH ORDINALITY AS t(position, id, stream, type, schema, data, meta, created, origin, hub_position, sort_key, ord)
), latest AS (
	SELECT lt.stream, lt.type, lt.created, lt.id FROM {s}.stream_types lt
	WHERE lt.tenant = $1 AND (lt.stream, lt.type) IN (SELECT stream, type FROM input)
), calc AS (
	SELECT i.*,
		(coalesce((l.created, l.id) > (i.created, i.id), false)
		OR coalesce(max(i.sort_key COLLATE "C") OVER w > i.sort_key COLLATE "C", false))
		AND NOT i.type = ANY($14::text[]) AS outdated
	FROM input i LEFT JOIN latest l ON l.stream = i.stream AND l.type = i.type
	WINDOW w AS (PARTITION BY i.stream, i.type ORDER BY i.ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), ins AS (
	INSERT INTO {s}.events (tenant, position, id, stream, type, schema, data, meta, created, origin, hub_position, hydrated, outdated)
	SELECT $1, position, id, stream, type, schema, data, meta, created, origin, hub_position, $13, outdated
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
), bump AS (
	UPDATE {s}.tenants SET head = head + (SELECT count(*) FROM ins) WHERE tenant = $1
)
SELECT position, outdated FROM ins`

// commutative returns the commutative types among events' (never outdated,
// see eventstore.EventType.Commutative); usually none.
func (t *Tx) commutative(events []eventstore.Event) []string {
	out := []string{}
	for i := range events {
		if typ := events[i].Type; t.s.core.Commutative(typ) && !slices.Contains(out, typ) {
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
	n := len(events)
	if n >= copyThreshold {
		return t.storeCopy(ctx, events, head, insert)
	}
	var (
		positions = make([]int64, n)
		ids       = make([]string, n)
		streams   = make([]string, n)
		types     = make([]string, n)
		schemas   = make([]int32, n)
		data      = make([][]byte, n)
		meta      = make([][]byte, n)
		created   = make([]int64, n)
		origins   = make([]string, n)
		hubPos    = make([]int64, n)
		keys      = make([]string, n)
	)
	for i := range events {
		e := &events[i]
		e.Position = head + int64(i) + 1
		if t.s.db.hub {
			e.HubPosition = e.Position
		}
		positions[i], ids[i], streams[i], types[i] = e.Position, e.ID, e.Stream, e.Type
		schemas[i], data[i], meta[i], created[i] = int32(e.Schema), e.Data, e.Meta, int64(e.Created)
		origins[i], hubPos[i], keys[i] = e.Origin, e.HubPosition, e.Created.String()+e.ID
	}
	rows, err := t.tx.Query(ctx, t.s.db.q(appendSQL), t.s.tenant, positions, ids, streams, types, schemas,
		data, meta, created, origins, hubPos, keys, insert, t.commutative(events))
	if err != nil {
		return err
	}
	defer rows.Close()
	stored := 0
	for rows.Next() {
		var (
			pos      int64
			outdated bool
		)
		if err := rows.Scan(&pos, &outdated); err != nil {
			return err
		}
		i := pos - head - 1
		if i < 0 || i >= int64(n) {
			return fmt.Errorf("position %d out of the batch's range", pos)
		}
		events[i].Outdated = outdated
		stored++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if stored != n {
		return fmt.Errorf("stored %d of %d events", stored, n)
	}
	return nil
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

// Append implements eventstore.Store. It takes the tenant lock first, then
// checks the expected versions (race-free under the lock) and that no
// caller-supplied ID is stored, then stores all events with one statement.
func (t *Tx) Append(ctx context.Context, writes ...eventstore.Write) ([]eventstore.Event, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	events, err := t.s.core.PrepareAppend(writes)
	if err != nil {
		return nil, err
	}
	if err := checkCreated(events); err != nil {
		return nil, err
	}
	seen := make(map[string]struct{}, len(events))
	for _, e := range events {
		if _, dup := seen[e.ID]; dup {
			return nil, fmt.Errorf("append %s: %w", e.Stream, backend.DuplicateIDError(e))
		}
		seen[e.ID] = struct{}{}
	}
	checks := false
	for _, w := range writes {
		checks = checks || w.Expect != eventstore.Any
	}
	if len(events) == 0 && !checks {
		return events, nil
	}
	head, err := t.lock(ctx)
	if err != nil {
		return nil, wrapErr("append: lock tenant", err)
	}
	if checks {
		if err := t.checkVersions(ctx, writes); err != nil {
			return nil, err
		}
	}
	if len(events) == 0 {
		return events, nil
	}
	if err := t.checkIDs(ctx, writes, events); err != nil {
		return nil, err
	}
	if err := t.store(ctx, events, head, false); err != nil {
		return nil, wrapErr("append "+events[0].Stream, err)
	}
	t.wrote = true
	if err := t.s.core.AfterAppend(ctx, t, events); err != nil {
		return nil, err
	}
	return events, nil
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
