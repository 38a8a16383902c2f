package postgres

import (
	"context"
	"slices"

	"github.com/ferrysync/ferry/eventstore"
)

// rejectSQL flags the events of $2 that may be rejected (local, without a
// hub position, not rejected yet) and returns them.
const rejectSQL = `UPDATE {s}.events SET rejected = true
WHERE tenant = $1 AND id = ANY($2) AND NOT rejected AND NOT hydrated AND hub_position = 0
RETURNING stream, type, created, id, position`

// unrejectBookkeepSQL undoes, for the rejected events (one array element
// each), what storing them did: stream versions drop by the number
// rejected per stream (a stream left with none goes away); a (stream, type)
// whose latest event was rejected moves back to its greatest remaining
// event, or goes away with the last; the stream's snapshots at or after a
// rejected event are deleted. It runs after rejectSQL, whose flags it sees.
// (The data-modifying CTEs of one statement all see the same snapshot, so
// each row is changed by one CTE only: the disjoint UPDATE and DELETE.)
const unrejectBookkeepSQL = `WITH r AS (
	SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[]) AS r(stream, type, created, id)
), c AS (
	SELECT stream, count(*) AS n FROM r GROUP BY stream
), versions AS (
	UPDATE {s}.streams st SET version = st.version - c.n FROM c
	WHERE st.tenant = $1 AND st.stream = c.stream AND st.version > c.n
), emptied AS (
	DELETE FROM {s}.streams st USING c
	WHERE st.tenant = $1 AND st.stream = c.stream AND st.version <= c.n
), moved AS (
	SELECT lt.stream, lt.type, x.created, x.id FROM {s}.stream_types lt
	JOIN r ON lt.stream = r.stream AND lt.type = r.type AND lt.id = r.id
	LEFT JOIN LATERAL (
		SELECT e.created, e.id FROM {s}.events e
		WHERE e.tenant = $1 AND e.stream = lt.stream AND e.type = lt.type AND NOT e.rejected
		ORDER BY e.created DESC, e.id DESC LIMIT 1
	) x ON true
	WHERE lt.tenant = $1
), dropped AS (
	DELETE FROM {s}.stream_types lt USING moved m
	WHERE lt.tenant = $1 AND lt.stream = m.stream AND lt.type = m.type AND m.id IS NULL
), retyped AS (
	UPDATE {s}.stream_types lt SET created = m.created, id = m.id FROM moved m
	WHERE lt.tenant = $1 AND lt.stream = m.stream AND lt.type = m.type AND m.id IS NOT NULL
)
DELETE FROM {s}.snapshots sn USING r
WHERE sn.tenant = $1 AND sn.stream = r.stream AND (sn.cursor_created, sn.cursor_id) >= (r.created, r.id)`

// reoutdateSQL re-derives Outdated, as if the rejected events had never
// been stored, for the events each could have made outdated: same stream and
// type, stored after it, sorting before it. One stays outdated when a
// remaining event of its type, stored before it, sorts after it. It runs
// after rejectSQL, whose flags it sees.
const reoutdateSQL = `UPDATE {s}.events e SET outdated = EXISTS (
	SELECT 1 FROM {s}.events x
	WHERE x.tenant = $1 AND x.stream = e.stream AND x.type = e.type AND NOT x.rejected
		AND x.position < e.position AND (x.created, x.id) > (e.created, e.id))
FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[]) AS r(stream, type, created, id, position)
WHERE e.tenant = $1 AND e.stream = r.stream AND e.type = r.type AND e.outdated AND NOT e.rejected
	AND e.position > r.position AND (e.created, e.id) < (r.created, r.id)`

// Reject implements eventstore.Writer. It takes the tenant lock (stream
// versions and latest events must not move under a concurrent Append),
// flags the events, then fixes the bookkeeping in one statement and the
// Outdated flags the rejected events caused in another. On a hub
// store it changes nothing: every event there has a hub position.
func (t *Tx) Reject(ctx context.Context, ids ...string) error {
	if err := t.check(); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if _, err := t.lock(ctx); err != nil {
		return wrapErr("reject: lock tenant", err)
	}
	rows, err := t.tx.Query(ctx, t.s.db.q(rejectSQL), t.s.tenant, ids)
	if err != nil {
		return wrapErr("reject", err)
	}
	var (
		streams, types, rids []string
		created, positions   []int64
	)
	for rows.Next() {
		var (
			e    eventstore.Event
			c, p int64
		)
		if err := rows.Scan(&e.Stream, &e.Type, &c, &e.ID, &p); err != nil {
			rows.Close()
			return wrapErr("reject", err)
		}
		streams, types, created, rids = append(streams, e.Stream), append(types, e.Type), append(created, c), append(rids, e.ID)
		positions = append(positions, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return wrapErr("reject", err)
	}
	if len(rids) == 0 {
		return nil
	}
	if _, err = t.tx.Exec(ctx, t.s.db.q(unrejectBookkeepSQL), t.s.tenant, streams, types, created, rids); err != nil {
		return wrapErr("reject: bookkeeping", err)
	}
	_, err = t.tx.Exec(ctx, t.s.db.q(reoutdateSQL), t.s.tenant, streams, types, created, rids, positions)
	return wrapErr("reject: outdated flags", err)
}
