package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/ferrysync/ferry/eventstore"
)

// copyThreshold is the batch size from which store uses COPY (storeCopy)
// rather than the one-statement appendSQL: COPY inserts rows faster, but
// the path takes two more round trips. Measured here, the paths break even
// between 32 and 64 events; at 256 COPY is about 1.5x faster. Tests lower
// it to run every check through both paths.
var copyThreshold = 64

// eventCopyColumns are the events columns storeCopy fills.
var eventCopyColumns = []string{"tenant", "position", "id", "stream", "type", "schema", "data", "meta",
	"created", "origin", "hub_position", "hydrated", "outdated"}

// bookkeepSQL does, for a batch stored with COPY, what appendSQL's CTEs do:
// stream versions, the latest event of each (stream, type), snapshot
// invalidation and the tenant head. Its arrays are per stream ($2..$5) and
// per (stream, type) ($6..$9), computed in Go from the batch.
const bookkeepSQL = `WITH versions AS (
	INSERT INTO {s}.streams AS st (tenant, stream, version)
	SELECT $1, * FROM unnest($2::text[], $3::bigint[])
	ON CONFLICT (tenant, stream) DO UPDATE SET version = st.version + EXCLUDED.version
), type_heads AS (
	INSERT INTO {s}.stream_types AS lt (tenant, stream, type, created, id)
	SELECT $1, * FROM unnest($6::text[], $7::text[], $8::bigint[], $9::text[])
	ON CONFLICT (tenant, stream, type) DO UPDATE SET created = EXCLUDED.created, id = EXCLUDED.id
	WHERE (EXCLUDED.created, EXCLUDED.id) > (lt.created, lt.id)
), invalidated AS (
	DELETE FROM {s}.snapshots sn USING unnest($2::text[], $4::bigint[], $5::text[]) AS f(stream, created, id)
	WHERE sn.tenant = $1 AND sn.stream = f.stream AND (sn.cursor_created, sn.cursor_id) > (f.created, f.id)
)
UPDATE {s}.tenants SET head = head + $10 WHERE tenant = $1`

type streamType struct{ stream, typ string }

// storeCopy stores events (distinct IDs, none stored yet) numbered after
// head with COPY: it reads the latest event of each (stream, type) of the
// batch, computes Outdated in Go exactly as appendSQL does in SQL, copies
// the rows, then runs bookkeepSQL. A stored ID fails the COPY with a unique
// violation.
func (t *Tx) storeCopy(ctx context.Context, events []eventstore.Event, head int64, insert bool) error {
	latest := map[streamType]eventstore.Event{}
	var gStreams, gTypes []string
	for _, e := range events {
		g := streamType{e.Stream, e.Type}
		if _, ok := latest[g]; !ok {
			latest[g] = eventstore.Event{}
			gStreams, gTypes = append(gStreams, e.Stream), append(gTypes, e.Type)
		}
	}
	rows, err := t.tx.Query(ctx, t.s.db.q(`SELECT stream, type, created, id FROM {s}.stream_types
WHERE tenant = $1 AND (stream, type) IN (SELECT * FROM unnest($2::text[], $3::text[]))`), t.s.tenant, gStreams, gTypes)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			e       eventstore.Event
			created int64
		)
		if err := rows.Scan(&e.Stream, &e.Type, &created, &e.ID); err != nil {
			rows.Close()
			return err
		}
		e.Created = eventstore.Timestamp(created)
		latest[streamType{e.Stream, e.Type}] = e
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	type streamAgg struct {
		count int64
		first eventstore.Cursor
	}
	perStream := map[string]*streamAgg{}
	var streams []string
	for i := range events {
		e := &events[i]
		e.Position = head + int64(i) + 1
		if t.s.db.hub {
			e.HubPosition = e.Position
		}
		g := streamType{e.Stream, e.Type}
		c := eventstore.CursorOf(*e)
		l := latest[g]
		// Outdated: the latest stored or earlier batch event of the group
		// sorts after this one; otherwise this one is the group's latest.
		late := l.ID != "" && eventstore.CursorOf(l).Compare(c) > 0
		if e.Outdated = late && !t.s.core.Commutative(e.Type); !late {
			latest[g] = *e
		}
		a := perStream[e.Stream]
		if a == nil {
			a = &streamAgg{first: c}
			perStream[e.Stream] = a
			streams = append(streams, e.Stream)
		}
		a.count++
		if c.Compare(a.first) < 0 {
			a.first = c
		}
	}

	_, err = t.tx.CopyFrom(ctx, pgx.Identifier{t.s.db.schema, "events"}, eventCopyColumns,
		pgx.CopyFromSlice(len(events), func(i int) ([]any, error) {
			e := &events[i]
			return []any{t.s.tenant, e.Position, e.ID, e.Stream, e.Type, int32(e.Schema), []byte(e.Data), []byte(e.Meta),
				int64(e.Created), e.Origin, e.HubPosition, insert, e.Outdated}, nil
		}))
	if err != nil {
		return err
	}

	counts := make([]int64, len(streams))
	firstCreated := make([]int64, len(streams))
	firstIDs := make([]string, len(streams))
	for i, name := range streams {
		a := perStream[name]
		counts[i], firstCreated[i], firstIDs[i] = a.count, int64(a.first.Created), a.first.ID
	}
	gCreated := make([]int64, len(gStreams))
	gIDs := make([]string, len(gStreams))
	for i := range gStreams {
		l := latest[streamType{gStreams[i], gTypes[i]}]
		gCreated[i], gIDs[i] = int64(l.Created), l.ID
	}
	_, err = t.tx.Exec(ctx, t.s.db.q(bookkeepSQL), t.s.tenant, streams, counts, firstCreated, firstIDs,
		gStreams, gTypes, gCreated, gIDs, int64(len(events)))
	return err
}
