package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/pgtest"
	"github.com/ferrysync/ferry/internal/testutil"
)

const benchBatch = 1000

// BenchmarkAppend1000 measures Append of 1,000 events (10 streams of 100)
// against the raw baseline, in the same run.
func BenchmarkAppend1000(b *testing.B) { benchBulk(b, false, false) }

// BenchmarkInsert1000 measures Insert of 1,000 remote events (10 streams of
// 100) against the raw baseline, in the same run.
func BenchmarkInsert1000(b *testing.B) { benchBulk(b, true, false) }

// BenchmarkInsert1000Resent is BenchmarkInsert1000 with one already stored
// event in front of each batch (a re-sent push): the slow path, a failed
// attempt rolled back to its savepoint, an ID lookup and a second store.
func BenchmarkInsert1000Resent(b *testing.B) { benchBulk(b, true, true) }

// benchBulk interleaves, per iteration, the raw baseline (a pgx.Batch of
// 1,000 single-row INSERTs into a plain table, in one transaction) and one
// Ferry call with the same events, timing each separately. It reports
// Ferry's events/s, the raw rows/s and their ratio x_raw.
func benchBulk(b *testing.B, insert, resend bool) {
	ctx := context.Background()
	db := openDB(b, testSchema(b), Options{})
	s := openStore(b, db, "acme", eventstore.Config{})
	rawTable := pgtest.NewRawTable(b, db.Pool(), db.Schema())
	clock := eventstore.NewClock()

	var (
		ferry, raw time.Duration
		iterations int
		resent     []eventstore.Event
	)
	for b.Loop() {
		events := testutil.BenchEvents(clock, benchBatch)

		start := time.Now()
		require.NoError(b, rawTable.Insert(ctx, events))
		raw += time.Since(start)

		start = time.Now()
		var err error
		if insert {
			_, err = s.Insert(ctx, append(resent, events...)...)
			if resend {
				resent = events[len(events)-1:]
			}
		} else {
			writes := make([]eventstore.Write, 10)
			for i := range writes {
				writes[i].Stream = fmt.Sprintf("stream-%d", i)
			}
			for i, e := range events {
				e.ID, e.Created, e.Origin = "", 0, ""
				writes[i%10].Events = append(writes[i%10].Events, e)
			}
			_, err = s.Append(ctx, writes...)
		}
		ferry += time.Since(start)
		require.NoError(b, err)
		iterations++
	}
	n := float64(iterations * benchBatch)
	ferryRate, rawRate := n/ferry.Seconds(), n/raw.Seconds()
	b.ReportMetric(ferryRate, "events/s")
	b.ReportMetric(rawRate, "raw_rows/s")
	b.ReportMetric(ferryRate/rawRate, "x_raw")
}

// BenchmarkAppendOne measures single-event appends with an expected
// version, the shape of a server-side command: each Append is its own
// transaction, and the streams rotate (4 events each, the first expecting
// NoStream, the others Exact(n)). The raw baseline, in the same run, is a
// hand-written pgx transaction of the same shape on plain tables with the
// same columns: lock and bump the tenant's counter row, read the stream's
// version, insert the event, NOTIFY, commit (rawAppend). Rounds of
// appendRound operations alternate between the two, so the shared
// machine's load hits both. It reports both rates, x_raw (the median over
// the rounds of Ferry's rate over the raw rate of the round beside it) and
// the WAL each writes per event (the median over the rounds of the
// server's WAL position moving during the round; other sessions writing
// on the same server push single rounds up, not the median).
func BenchmarkAppendOne(b *testing.B) {
	ctx := context.Background()
	db := openDB(b, testSchema(b), Options{})
	s := openStore(b, db, "acme", eventstore.Config{})
	raw := newRawAppender(b, db, "acme")
	data, meta := []byte(`{"title":"buy milk and bread","done":false,"n":12345}`), []byte(`{"actor":"bench"}`)
	expect := func(i int) (string, eventstore.ExpectedVersion) {
		return fmt.Sprintf("order-%d", i/4), eventstore.Exact(int64(i % 4))
	}
	walLSN := func() int64 {
		var lsn int64
		require.NoError(b, db.Pool().QueryRow(ctx, `SELECT pg_current_wal_insert_lsn() - '0/0'`).Scan(&lsn))
		return lsn
	}
	// Warm both sides up (connections, statement caches, first pages).
	for i := range 2 * appendRound {
		stream, exp := expect(i)
		_, err := s.Append(ctx, eventstore.Write{Stream: "warm" + stream, Expect: exp, Events: []eventstore.Event{{Type: "order:placed", Data: data, Meta: meta}}})
		require.NoError(b, err)
		require.NoError(b, raw.append(ctx, "warm"+stream, exp, data, meta))
	}

	var (
		tf, tr           time.Duration
		ratios           []float64
		walFerry, walRaw []float64
	)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(appendRound, b.N-done)
		b.StopTimer()
		lsn, t0 := walLSN(), time.Now()
		for j := range n {
			stream, exp := expect(done + j)
			if err := raw.append(ctx, stream, exp, data, meta); err != nil {
				b.Fatal(err)
			}
		}
		dr := time.Since(t0)
		walRaw = append(walRaw, float64(walLSN()-lsn)/float64(n))
		lsn = walLSN()
		b.StartTimer()
		t0 = time.Now()
		for j := range n {
			stream, exp := expect(done + j)
			_, err := s.Append(ctx, eventstore.Write{Stream: stream, Expect: exp, Events: []eventstore.Event{{Type: "order:placed", Data: data, Meta: meta}}})
			if err != nil {
				b.Fatal(err)
			}
		}
		df := time.Since(t0)
		b.StopTimer()
		walFerry = append(walFerry, float64(walLSN()-lsn)/float64(n))
		b.StartTimer()
		tf, tr = tf+df, tr+dr
		ratios = append(ratios, dr.Seconds()/df.Seconds())
		done += n
	}
	b.StopTimer()
	events := float64(b.N)
	b.ReportMetric(events/tf.Seconds(), "events/s")
	b.ReportMetric(events/tr.Seconds(), "raw_events/s")
	b.ReportMetric(median(ratios), "x_raw")
	b.ReportMetric(median(walFerry), "wal_B/event")
	b.ReportMetric(median(walRaw), "raw_wal_B/event")
}

// appendRound is the number of appends per round of BenchmarkAppendOne.
const appendRound = 20

func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// rawAppender is BenchmarkAppendOne's baseline: an event table with the
// columns of Ferry's (plus the event's stream version), its primary key on
// the tenant's position, a unique ID and a unique (stream, version) that
// also serves the version check; a tenants table holding the counter row.
type rawAppender struct {
	pool                           *pgxpool.Pool
	tenant, payload                string
	lockSQL, versionSQL, insertSQL string
	clock                          *eventstore.Clock
}

func newRawAppender(b *testing.B, db *DB, tenant string) *rawAppender {
	b.Helper()
	tenants := pgx.Identifier{db.Schema(), "raw_tenants"}.Sanitize()
	events := pgx.Identifier{db.Schema(), "raw_events"}.Sanitize()
	_, err := db.Pool().Exec(context.Background(), `CREATE TABLE `+tenants+` (
	tenant TEXT COLLATE "C" PRIMARY KEY, head BIGINT NOT NULL);
CREATE TABLE `+events+` (
	tenant TEXT COLLATE "C" NOT NULL, position BIGINT NOT NULL, id TEXT COLLATE "C" NOT NULL,
	stream TEXT COLLATE "C" NOT NULL, version BIGINT NOT NULL, type TEXT COLLATE "C" NOT NULL,
	schema INTEGER NOT NULL, data BYTEA NOT NULL, meta BYTEA NOT NULL, created BIGINT NOT NULL,
	origin TEXT COLLATE "C" NOT NULL, hub_position BIGINT NOT NULL, hydrated BOOLEAN NOT NULL, outdated BOOLEAN NOT NULL,
	PRIMARY KEY (tenant, position), UNIQUE (tenant, id), UNIQUE (tenant, stream, version));
INSERT INTO `+tenants+` VALUES ('`+tenant+`', 0)`)
	require.NoError(b, err)
	return &rawAppender{
		pool: db.Pool(), tenant: tenant, payload: db.notifyPayload(tenant), clock: eventstore.NewClock(),
		lockSQL:    `UPDATE ` + tenants + ` SET head = head + 1 WHERE tenant = $1 RETURNING head`,
		versionSQL: `SELECT coalesce(max(version), 0) FROM ` + events + ` WHERE tenant = $1 AND stream = $2`,
		insertSQL: `INSERT INTO ` + events + ` (tenant, position, id, stream, version, type, schema, data, meta, created, origin, hub_position, hydrated, outdated)
VALUES ($1, $2, $3, $4, $5, 'order:placed', 1, $6, $7, $8, 'hub', $2, false, false)`,
	}
}

// append runs one transaction: lock the counter row (taking the position),
// check the stream's version, insert, notify, commit.
func (r *rawAppender) append(ctx context.Context, stream string, expect eventstore.ExpectedVersion, data, meta []byte) error {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var head, version int64
	if err := tx.QueryRow(ctx, r.lockSQL, r.tenant).Scan(&head); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, r.versionSQL, r.tenant, stream).Scan(&version); err != nil {
		return err
	}
	if err := expect.Check(stream, version); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, r.insertSQL, r.tenant, head, eventstore.NewID(), stream, version+1, data, meta, int64(r.clock.Now())); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, r.payload); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
