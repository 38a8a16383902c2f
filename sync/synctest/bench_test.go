package synctest_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/eventstore/postgres"
	"github.com/ferrysync/ferry/internal/pgtest"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/synctest"
)

// Sizes of the benchmarks, overridable for quick runs.
const (
	envBenchPush   = "FERRY_BENCH_PUSH_EVENTS" // BenchmarkPush, default 100,000
	envBenchEvents = "FERRY_BENCH_EVENTS"      // BenchmarkCatchUp, default 1,000,000
	// envBenchReadModel=none runs BenchmarkCatchUp's projector without its
	// read-model handler.
	envBenchReadModel = "FERRY_BENCH_READMODEL"
	envBenchLive      = "FERRY_BENCH_LIVE_EVENTS"  // BenchmarkLivePropagation, default 10,000
	envBenchConns     = "FERRY_BENCH_LIVE_CLIENTS" // BenchmarkLivePropagation, default 100
	// envBenchMetrics=1 makes the hubs count in sync/hub/hubmetrics (the
	// Prometheus observer) instead of the no-op default.
	envBenchMetrics = "FERRY_BENCH_METRICS"
)

// benchSize returns the integer in env, or def.
func benchSize(b testing.TB, env string, def int) int {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(b, err, env)
	require.Positive(b, n, env)
	return n
}

// openPostgresHub opens a Postgres hub store for tenant acme on a fresh
// schema and returns it with its DB.
func openPostgresHub(b testing.TB) (*postgres.DB, eventstore.Store) {
	db, err := postgres.Open(context.Background(), synctest.PostgresURL(b), postgres.Options{Schema: synctest.FreshSchema(b)})
	require.NoError(b, err)
	b.Cleanup(db.Close)
	s, err := db.Store("acme", eventstore.Config{})
	require.NoError(b, err)
	return db, s
}

// BenchmarkPush measures one client pushing N events (default 100,000) to
// a PostgreSQL hub over loopback, end to end: from SyncOnce's start until
// the last ack is recorded in the client's SQLite store. The baseline
// inserts the same rows into a plain table with pgx batches of the
// protocol's batch size, one transaction each, in the same run.
func BenchmarkPush(b *testing.B) {
	n := benchSize(b, envBenchPush, 100_000)
	ctx := context.Background()
	db, hubStore := openPostgresHub(b)
	url := serveHub(b, hubStore, nil)
	rawTable := pgtest.NewRawTable(b, db.Pool(), db.Schema())

	var ferry, raw time.Duration
	total := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		src := openClientStore(b, fmt.Sprintf("pusher-%d", i))
		appendNotes(b, src, fmt.Sprintf("bench/%d", i), n, 60)
		events := ledger(b, src)

		// Raw baseline: the same rows.
		start := time.Now()
		for chunk := range slices.Chunk(events, 500) {
			require.NoError(b, rawTable.Insert(ctx, chunk))
		}
		raw += time.Since(start)

		var acked atomic.Int64
		done := make(chan time.Time, 1)
		r := replicator(b, src, url, token(b, "acme", "pusher"), func(c *client.Config) {
			c.OnProgress = func(p client.Progress) {
				if p.Pushed >= int64(n) && acked.Swap(p.Pushed) < int64(n) {
					done <- time.Now()
				}
			}
		})
		b.StartTimer()
		start = time.Now()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		_, err := r.SyncOnce(sctx)
		cancel()
		require.NoError(b, err)
		select {
		case end := <-done:
			ferry += end.Sub(start)
		default:
			b.Fatalf("only %d of %d events acked", acked.Load(), n)
		}
		total += n
	}
	ferryRate, rawRate := float64(total)/ferry.Seconds(), float64(total)/raw.Seconds()
	b.ReportMetric(ferryRate, "events/s")
	b.ReportMetric(rawRate, "raw_rows/s")
	b.ReportMetric(ferryRate/rawRate, "x_raw")
}

// BenchmarkLivePropagation measures the latency from client A's Append to
// the run of client B's On handler, with N (default 100) clients connected
// to a PostgreSQL hub over loopback, over E events (default 10,000) sent
// one at a time. It reports p50_ms and p99_ms. There is no raw baseline for
// a latency: x_target is p99 against the 25 ms target (< 1 is better).
func BenchmarkLivePropagation(b *testing.B) {
	events := benchSize(b, envBenchLive, 10_000)
	conns := max(2, benchSize(b, envBenchConns, 100))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, hubStore := openPostgresHub(b)
	url := serveHub(b, hubStore, nil)

	// Every client runs a replicator on a memory store; client 1 (B) also
	// runs a projector whose On handler reports arrivals, and lists it in
	// its Config.Projectors (so the handler runs in the pull's transaction).
	var caughtUp atomic.Int64
	stores := make([]*memory.Store, conns)
	for i := range stores {
		s := memory.New(eventstore.Config{Origin: fmt.Sprintf("dev-%d", i)})
		b.Cleanup(func() { _ = s.Close() })
		stores[i] = s
	}
	arrived := make(chan string, 16)
	h := projector.NewHandlers()
	projector.On(h, "note:added", func(_ context.Context, _ eventstore.Tx, e eventstore.Event, _ struct{}) error {
		arrived <- e.ID
		return nil
	})
	proj, err := projector.New("latency", stores[1], projector.Options{Handlers: h})
	require.NoError(b, err)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i, s := range stores {
		var once sync.Once
		r := replicator(b, s, url, token(b, "acme", fmt.Sprintf("dev-%d", i)), func(c *client.Config) {
			c.OnProgress = func(p client.Progress) {
				if p.CaughtUp {
					once.Do(func() { caughtUp.Add(1) })
				}
			}
			if i == 1 {
				c.Projectors = []client.Projector{proj}
			}
		})
		wg.Go(func() { _ = r.Run(ctx) })
	}
	wg.Go(func() { _ = proj.Run(ctx) })
	deadline := time.Now().Add(waitTimeout)
	for caughtUp.Load() < int64(conns) {
		require.True(b, time.Now().Before(deadline), "only %d of %d clients connected", caughtUp.Load(), conns)
		time.Sleep(10 * time.Millisecond)
	}

	a := stores[0]
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range events {
			start := time.Now()
			out, err := a.Append(ctx, eventstore.Write{Stream: fmt.Sprintf("live/%d", j%10), Events: []eventstore.Event{
				{Type: "note:added", Data: []byte(`{"n":1}`)},
			}})
			require.NoError(b, err)
			timeout := time.After(waitTimeout)
		wait:
			for {
				select {
				case id := <-arrived:
					if id == out[0].ID {
						break wait
					}
				case <-timeout:
					b.Fatalf("event %d never reached client B", j)
				}
			}
			lat = append(lat, time.Since(start))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	p := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(p(0.50), "p50_ms")
	b.ReportMetric(p(0.99), "p99_ms")
	b.ReportMetric(p(0.99)/25, "x_target")
	b.ReportMetric(float64(conns), "clients")
}
