package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// The benchmarks compare Ferry with a raw baseline on the same driver, with
// the same PRAGMAs (the writer DSN of this package), in the same run: each
// benchmark alternates chunks of raw and Ferry operations, times both, and
// reports
//
//	events/s      Ferry's rate over the run
//	raw_events/s  the baseline's rate over the run
//	x_raw         median over the chunks of Ferry's rate / the raw rate
//
// The baseline table has Ferry's event columns with the rowid primary key
// and a UNIQUE id (what any idempotent event log needs), and none of Ferry's
// secondary indexes or bookkeeping (the stream and pending indexes, stream
// versions, outdated flags, snapshot invalidation). A single-event Append
// writes 5 WAL frames where the raw insert writes 2; that, and the
// checkpoint fsyncs it brings, is most of the gap.
//
//	go test -run '^$' -bench . -benchtime 2000x ./eventstore/sqlite/

const rawSchema = `CREATE TABLE events (
	position     INTEGER PRIMARY KEY,
	id           TEXT    NOT NULL UNIQUE,
	stream       TEXT    NOT NULL,
	type         TEXT    NOT NULL,
	schema       INTEGER NOT NULL,
	data         BLOB    NOT NULL,
	meta         BLOB    NOT NULL,
	created      INTEGER NOT NULL,
	origin       TEXT    NOT NULL,
	hub_position INTEGER NOT NULL DEFAULT 0,
	hydrated     INTEGER NOT NULL,
	outdated     INTEGER NOT NULL,
	rejected     INTEGER NOT NULL DEFAULT 0,
	unknown      INTEGER NOT NULL DEFAULT 0,
	revived      INTEGER NOT NULL DEFAULT 0
)`

const rawInsert = `INSERT INTO events (id, stream, type, schema, data, meta, created, origin, hydrated, outdated)
	VALUES (?, ?, ?, 1, ?, '{}', ?, 'raw', 0, 0)`

// benchPayload is the decoded form of benchData.
type benchPayload struct {
	Title string `json:"title"`
	Done  bool   `json:"done"`
	N     int    `json:"n"`
}

var benchData = []byte(`{"title":"buy milk and bread","done":false,"n":12345}`)

// benchDB opens a raw baseline database with the store's writer DSN.
func benchDB(b *testing.B, path string) *sql.DB {
	b.Helper()
	db, err := sql.Open("sqlite", dsn(path, "NORMAL", writeConn, DefaultCacheBytes>>10))
	require.NoError(b, err)
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { _ = db.Close() })
	_, err = db.Exec(rawSchema)
	require.NoError(b, err)
	return db
}

func benchStore(b *testing.B, path string) *Store {
	b.Helper()
	s, err := Open(context.Background(), path, Options{})
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// compare runs b.N Ferry operations and b.N raw operations in alternating
// chunks of chunk operations, each operation handling perOp events. It
// reports both rates over the whole run and, as x_raw, the median over the
// chunks of Ferry's rate relative to the raw rate of the chunk beside it:
// this machine is shared, and neighbouring chunks see the same load, so the
// median ratio is far steadier than the ratio of the totals. Only Ferry's
// operations run under the benchmark timer.
func compare(b *testing.B, perOp, chunk int, ferry, raw func(i int)) {
	var tf, tr time.Duration
	var ratios []float64
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(chunk, b.N-done)
		b.StopTimer()
		t0 := time.Now()
		for j := range n {
			raw(done + j)
		}
		dr := time.Since(t0)
		b.StartTimer()
		t0 = time.Now()
		for j := range n {
			ferry(done + j)
		}
		df := time.Since(t0)
		tf, tr = tf+df, tr+dr
		ratios = append(ratios, dr.Seconds()/df.Seconds())
		done += n
	}
	b.StopTimer()
	events := float64(b.N * perOp)
	slices.Sort(ratios)
	b.ReportMetric(events/tf.Seconds(), "events/s")
	b.ReportMetric(events/tr.Seconds(), "raw_events/s")
	b.ReportMetric(ratios[len(ratios)/2], "x_raw")
}

// BenchmarkAppendOne: one event per Append (its own transaction) against a
// raw single-row INSERT per transaction. Target: x_raw >= 0.7.
func BenchmarkAppendOne(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	s := benchStore(b, filepath.Join(dir, "ferry.db"))
	db := benchDB(b, filepath.Join(dir, "raw.db"))
	clock := eventstore.NewClock()
	compare(b, 1, 20, func(i int) {
		_, err := s.Append(ctx, eventstore.Write{Stream: "task-1", Events: []eventstore.Event{{Type: "task:created", Data: benchData}}})
		if err != nil {
			b.Fatal(err)
		}
	}, func(i int) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, rawInsert, eventstore.NewID(), "task-1", "task:created", benchData, int64(clock.Now())); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	})
}

const batchSize = 1000

// BenchmarkAppendBatch: 1,000 events per Append against a raw transaction
// inserting 1,000 rows through one prepared statement. Target: x_raw >= 0.7.
func BenchmarkAppendBatch(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	s := benchStore(b, filepath.Join(dir, "ferry.db"))
	db := benchDB(b, filepath.Join(dir, "raw.db"))
	clock := eventstore.NewClock()
	events := make([]eventstore.Event, batchSize)
	compare(b, batchSize, 1, func(i int) {
		for j := range events {
			events[j] = eventstore.Event{Type: "task:created", Data: benchData}
		}
		_, err := s.Append(ctx, eventstore.Write{Stream: "task-1", Events: events})
		if err != nil {
			b.Fatal(err)
		}
	}, func(i int) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		st, err := tx.PrepareContext(ctx, rawInsert)
		if err != nil {
			b.Fatal(err)
		}
		for range batchSize {
			if _, err := st.ExecContext(ctx, eventstore.NewID(), "task-1", "task:created", benchData, int64(clock.Now())); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	})
}

// readLedger is the number of events BenchmarkReadAll reads pages from.
const readLedger = 100_000

// BenchmarkReadAll: a page of 1,000 events through ReadAll, decoding each
// event's Data into a struct, against a raw SELECT of the same columns with
// the same decode. Target: x_raw >= 0.6.
func BenchmarkReadAll(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	s := benchStore(b, filepath.Join(dir, "ferry.db"))
	db := benchDB(b, filepath.Join(dir, "raw.db"))
	clock := eventstore.NewClock()
	events := make([]eventstore.Event, batchSize)
	for range readLedger / batchSize {
		for j := range events {
			events[j] = eventstore.Event{Type: "task:created", Data: benchData}
		}
		_, err := s.Append(ctx, eventstore.Write{Stream: "task-1", Events: events})
		require.NoError(b, err)
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(b, err)
		for range batchSize {
			_, err := tx.ExecContext(ctx, rawInsert, eventstore.NewID(), "task-1", "task:created", benchData, int64(clock.Now()))
			require.NoError(b, err)
		}
		require.NoError(b, tx.Commit())
	}
	rawRead, err := sql.Open("sqlite", dsn(filepath.Join(dir, "raw.db"), "NORMAL", readConn, 0))
	require.NoError(b, err)
	b.Cleanup(func() { _ = rawRead.Close() })
	rawStmt, err := rawRead.PrepareContext(ctx, `SELECT `+eventCols+` FROM events WHERE position > ? ORDER BY position LIMIT ?`)
	require.NoError(b, err)
	b.Cleanup(func() { _ = rawStmt.Close() })

	var sink int
	after := func(i int) int64 { return int64(i%(readLedger/batchSize)) * batchSize }
	compare(b, batchSize, 2, func(i int) {
		n := 0
		for e, err := range s.ReadAll(ctx, after(i), batchSize) {
			if err != nil {
				b.Fatal(err)
			}
			var p benchPayload
			if err := json.Unmarshal(e.Data, &p); err != nil {
				b.Fatal(err)
			}
			sink += p.N
			n++
		}
		if n != batchSize {
			b.Fatalf("read %d events, want %d", n, batchSize)
		}
	}, func(i int) {
		rows, err := rawStmt.QueryContext(ctx, after(i), batchSize)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var (
				position, created, hub  int64
				id, stream, typ, origin string
				schema                  int
				data, meta              []byte
				hydrated, outdated, rej bool
				unknown, revived        bool
			)
			if err := rows.Scan(&position, &id, &stream, &typ, &schema, &data, &meta, &created, &origin, &hub, &hydrated, &outdated, &rej,
				&unknown, &revived); err != nil {
				b.Fatal(err)
			}
			var p benchPayload
			if err := json.Unmarshal(data, &p); err != nil {
				b.Fatal(err)
			}
			sink += p.N
			n++
		}
		if err := rows.Close(); err != nil {
			b.Fatal(err)
		}
		if n != batchSize {
			b.Fatalf("raw read %d rows, want %d", n, batchSize)
		}
	})
	_ = sink
}

// insertStreams and insertTypes shape BenchmarkInsertBatch's pulled batches.
const insertStreams, insertTypes = 50, 4

// BenchmarkInsertBatch: 1,000 remote events per Insert inside an Update (a
// pulled batch as a catching-up client applies it: several streams, a few
// types, increasing Created and hub positions) against the same raw
// transaction as BenchmarkAppendBatch, whose rows all go to one stream and
// which has no stream index: spread over 50 streams, each of Ferry's
// batches rewrites some 50 index pages more (in the WAL and in Update's
// savepoint journal). Target: x_raw >= 0.5.
func BenchmarkInsertBatch(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	s := benchStore(b, filepath.Join(dir, "ferry.db"))
	db := benchDB(b, filepath.Join(dir, "raw.db"))
	clock := eventstore.NewClock()
	types := [insertTypes]string{"task:created", "task:renamed", "task:completed", "task:deleted"}
	streams := make([]string, insertStreams)
	for i := range streams {
		streams[i] = "task-" + eventstore.NewID()
	}
	events := make([]eventstore.Event, batchSize)
	var hub int64
	compare(b, batchSize, 1, func(i int) {
		for j := range events {
			hub++
			events[j] = eventstore.Event{
				ID: eventstore.NewID(), Stream: streams[(j*7+i)%insertStreams], Type: types[j%insertTypes],
				Data: benchData, Created: clock.Now(), Origin: "remote", HubPosition: hub,
			}
		}
		err := s.Update(ctx, func(tx eventstore.Tx) error {
			res, err := tx.Insert(ctx, events...)
			if err == nil && !res[len(res)-1].Inserted {
				b.Fatal("last event not inserted")
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}, func(i int) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		st, err := tx.PrepareContext(ctx, rawInsert)
		if err != nil {
			b.Fatal(err)
		}
		for range batchSize {
			if _, err := st.ExecContext(ctx, eventstore.NewID(), "task-1", "task:created", benchData, int64(clock.Now())); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	})
}
