package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

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
