package projector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/projector"
)

// benchEvents is the ledger size of BenchmarkCatchUp; FERRY_BENCH_EVENTS
// overrides it (the figure is 1,000,000).
func benchEvents(b *testing.B) int {
	if v := os.Getenv("FERRY_BENCH_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("FERRY_BENCH_EVENTS=%q", v)
		}
		return n
	}
	return 100_000
}

type benchData struct {
	Title string `json:"title"`
	N     int    `json:"n"`
}

const benchTable = `CREATE TABLE IF NOT EXISTS bench_rm (event_id TEXT PRIMARY KEY, stream TEXT NOT NULL, title TEXT NOT NULL, n INTEGER NOT NULL)`

// seedLedger fills a new SQLite store with n events over 1000 streams.
func seedLedger(b *testing.B, n int) *sqlite.Store {
	b.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	const per = 1000
	for i := 0; i < n; i += per {
		writes := make([]eventstore.Write, 0, per)
		for j := i; j < min(i+per, n); j++ {
			data, _ := json.Marshal(benchData{Title: fmt.Sprintf("task %d", j), N: j})
			writes = append(writes, eventstore.Write{Stream: fmt.Sprintf("s%d", j%1000),
				Events: []eventstore.Event{{Type: "task:created", Data: data}}})
		}
		if _, err := store.Append(ctx, writes...); err != nil {
			b.Fatal(err)
		}
	}
	return store
}

func resetBenchTable(ctx context.Context, tx eventstore.Tx) error {
	stx := tx.(eventstore.SQLTx).SQL()
	if _, err := stx.ExecContext(ctx, benchTable); err != nil {
		return err
	}
	_, err := stx.ExecContext(ctx, `DELETE FROM bench_rm`)
	return err
}

// rawCatchUp is the baseline: read the ledger and write the rows in
// 1000-row transactions with a prepared statement, no projector.
func rawCatchUp(ctx context.Context, store eventstore.Store) (int, error) {
	if err := store.Update(ctx, func(tx eventstore.Tx) error { return resetBenchTable(ctx, tx) }); err != nil {
		return 0, err
	}
	var pos int64
	total := 0
	for {
		batch := make([]eventstore.Event, 0, 1000)
		for e, err := range store.ReadAll(ctx, pos, 1000) {
			if err != nil {
				return total, err
			}
			batch = append(batch, e)
		}
		if len(batch) == 0 {
			return total, nil
		}
		err := store.Update(ctx, func(tx eventstore.Tx) error {
			stmt, err := tx.(eventstore.SQLTx).SQL().PrepareContext(ctx, `INSERT INTO bench_rm (event_id, stream, title, n) VALUES (?, ?, ?, ?)`)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for _, e := range batch {
				var d benchData
				if err := json.Unmarshal(e.Data, &d); err != nil {
					return err
				}
				if _, err := stmt.ExecContext(ctx, e.ID, e.Stream, d.Title, d.N); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		pos = batch[len(batch)-1].Position
		total += len(batch)
	}
}

func benchHandlers() *projector.Handlers {
	h := projector.NewHandlers()
	projector.On(h, "task:created", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d benchData) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx,
			`INSERT INTO bench_rm (event_id, stream, title, n) VALUES (?, ?, ?, ?)`, e.ID, e.Stream, d.Title, d.N)
		return err
	})
	return h
}

func benchBatchHandlers() *projector.Handlers {
	h := projector.NewHandlers()
	projector.OnBatch(h, func(ctx context.Context, tx eventstore.Tx, events []eventstore.Event) error {
		stmt, err := tx.(eventstore.SQLTx).SQL().PrepareContext(ctx, `INSERT INTO bench_rm (event_id, stream, title, n) VALUES (?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, e := range events {
			var d benchData
			if err := json.Unmarshal(e.Data, &d); err != nil {
				return err
			}
			if _, err := stmt.ExecContext(ctx, e.ID, e.Stream, d.Title, d.N); err != nil {
				return err
			}
		}
		return nil
	}, "task:created")
	return h
}

// BenchmarkCatchUp rebuilds a SQLite read-model table from the whole
// ledger with a projector (1000 events per transaction), once with a
// per-event On handler and once with an OnBatch handler, and measures the
// raw baseline in the same run; it reports the rates and the ratios
// (raw time / projector time: 1 means no overhead).
func BenchmarkCatchUp(b *testing.B) {
	ctx := context.Background()
	n := benchEvents(b)
	store := seedLedger(b, n)
	p, err := projector.New("bench", store, projector.Options{Handlers: benchHandlers(), BatchSize: 1000})
	if err != nil {
		b.Fatal(err)
	}
	pb, err := projector.New("bench-batch", store, projector.Options{Handlers: benchBatchHandlers(), BatchSize: 1000})
	if err != nil {
		b.Fatal(err)
	}
	var rawDur, projDur, batchDur time.Duration
	for b.Loop() {
		start := time.Now()
		got, err := rawCatchUp(ctx, store)
		if err != nil || got != n {
			b.Fatalf("raw: %d events, %v", got, err)
		}
		rawDur += time.Since(start)

		for _, run := range []struct {
			p   *projector.Projector
			dur *time.Duration
		}{{p, &projDur}, {pb, &batchDur}} {
			start = time.Now()
			pos, err := run.p.Rebuild(ctx, resetBenchTable)
			if err != nil || pos != int64(n) {
				b.Fatalf("%s: at %d, %v", run.p.Name(), pos, err)
			}
			*run.dur += time.Since(start)
		}
	}
	events := float64(n) * float64(b.N)
	b.ReportMetric(events/rawDur.Seconds(), "raw-events/s")
	b.ReportMetric(events/projDur.Seconds(), "proj-events/s")
	b.ReportMetric(events/batchDur.Seconds(), "batch-events/s")
	b.ReportMetric(rawDur.Seconds()/projDur.Seconds(), "ratio")
	b.ReportMetric(rawDur.Seconds()/batchDur.Seconds(), "batch-ratio")
}

// BenchmarkLiveLatency measures the time from the start of an Append to
// the On handler running for it, in a running projector on SQLite; it
// reports p50 and p99 in milliseconds (run with -benchtime=10000x for the
// issue's figure).
func BenchmarkLiveLatency(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "live.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	ran := make(chan time.Time, 1)
	h := projector.NewHandlers()
	projector.On(h, "task:created", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d json.RawMessage) error {
		ran <- time.Now()
		return nil
	})
	p, err := projector.New("live", store, projector.Options{Handlers: h})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	lat := make([]time.Duration, 0, b.N)
	ev := []eventstore.Event{{Type: "task:created", Data: []byte(`{"title":"x"}`)}}
	for b.Loop() {
		start := time.Now()
		if _, err := store.Append(ctx, eventstore.Write{Stream: "s", Events: ev}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-ran).Sub(start))
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	pct := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
