package synctest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/sync/client"
)

// BenchmarkScopedCatchUp measures partial sync on a hub of N events
// (default 1,000,000; FERRY_BENCH_EVENTS) over 1,000 streams, embedded
// SQLite with its (stream, position) index, in-process, with SQLite
// clients: a full catch-up; a catch-up of a device subscribed to 10
// streams (1%), as x_full (its time over the full one's; target for issue
// 17: at most 0.03); and a backfill of 10 more streams added later (10,000
// events at the default size), as x_rate (its events/s over the full
// catch-up's; target at least 0.9). It prints the machine's load.
func BenchmarkScopedCatchUp(b *testing.B) {
	n := benchSize(b, envBenchEvents, 1_000_000)
	ctx := context.Background()
	hubStore, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "hub.db"),
		sqlite.Options{Config: eventstore.Config{Origin: "hub"}, StreamPositionIndex: true})
	require.NoError(b, err)
	b.Cleanup(func() { _ = hubStore.Close() })
	clock := eventstore.NewClock()
	batch := make([]eventstore.Event, 0, 10000)
	for i := range n {
		batch = append(batch, itemEvent(clock, i)) // stream item/(i%1000)
		if len(batch) == cap(batch) || i == n-1 {
			_, err := hubStore.Insert(ctx, batch...)
			require.NoError(b, err)
			batch = batch[:0]
		}
	}
	url := serveHub(b, hubStore, nil)
	streams := func(from int) []string {
		var out []string
		for i := from; i < from+10; i++ {
			out = append(out, fmt.Sprintf("item/%d", i)) // item/100..: no other stream extends them
		}
		return out
	}
	device := func(name string, subs ...string) *client.Replicator {
		s := openClientStoreAt(b, filepath.Join(b.TempDir(), name+".db"), name)
		r := replicator(b, s, url, token(b, "acme", name))
		if len(subs) > 0 {
			require.NoError(b, r.Subscribe(ctx, subs...))
		}
		return r
	}
	timed := func(r *client.Replicator) (client.Stats, time.Duration) {
		start := time.Now()
		st, err := r.SyncOnce(ctx)
		require.NoError(b, err)
		return st, time.Since(start)
	}
	b.ResetTimer()
	var full, scoped, backfill time.Duration
	var backfilled int
	for range b.N {
		st, d := timed(device("full"))
		require.Equal(b, n, st.Inserted)
		full += d
		st, d = timed(device("scoped", streams(100)...))
		require.Equal(b, n/100, st.Inserted)
		scoped += d
		r := device("later", "item/200")
		timed(r)
		require.NoError(b, r.Subscribe(ctx, streams(300)...))
		st, d = timed(r)
		require.Equal(b, n/100, st.Backfilled)
		backfill += d
		backfilled += st.Backfilled
	}
	b.StopTimer()
	fullRate := float64(n*b.N) / full.Seconds()
	backfillRate := float64(backfilled) / backfill.Seconds()
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("%d events over 1,000 streams: full catch-up %s (%.0f events/s); 10 streams %s (x_full %.4f); backfill of 10 more streams, %d events, %s (%.0f events/s, x_rate %.2f); load %s",
		n, (full / time.Duration(b.N)).Round(time.Millisecond), fullRate, (scoped / time.Duration(b.N)).Round(time.Millisecond),
		scoped.Seconds()/full.Seconds(), backfilled/b.N, (backfill / time.Duration(b.N)).Round(time.Millisecond), backfillRate,
		backfillRate/fullRate, strings.TrimSpace(string(load)))
	b.ReportMetric(scoped.Seconds()/full.Seconds(), "x_full")
	b.ReportMetric(backfillRate/fullRate, "x_rate")
	b.ReportMetric(fullRate, "full_events/s")
}
