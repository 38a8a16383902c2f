package aggregate_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/reducer"
)

// rawLoad reads the stream's rows straight from SQLite in the order a fold
// uses and decodes each payload into the handler's type: the floor a
// Repository load is measured against. It returns the events decoded.
func rawLoad(ctx context.Context, store eventstore.Store, stream string) (int, error) {
	n := 0
	err := store.Update(ctx, func(tx eventstore.Tx) error {
		rows, err := tx.(eventstore.SQLTx).SQL().QueryContext(ctx,
			`SELECT id, type, data, created FROM events WHERE stream = ? ORDER BY created, id`, stream)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id, typ string
				data    []byte
				created int64
				d       TicketRenamed
			)
			if err := rows.Scan(&id, &typ, &data, &created); err != nil {
				return err
			}
			if err := json.Unmarshal(data, &d); err != nil {
				return err
			}
			n++
		}
		return rows.Err()
	})
	return n, err
}

// BenchmarkLoadSQLite loads a 10,000-event aggregate from SQLite.
//
// full: no snapshot; events/s of the load, the raw SQL read + decode rate
// of the same rows measured in the same run, and their ratio.
// snapshot-100-behind: a snapshot 100 events behind the head; loads/s and
// the events each load reads.
func BenchmarkLoadSQLite(b *testing.B) {
	ctx := context.Background()
	const total = 10_000
	store := backends[1].open(b, eventstore.Config{})
	appendRenames(b, store, "task-1", total)
	r := newTaskReducer()
	repo := aggregate.NewRepository(store, r, aggregate.WithSnapshotEvery(0))

	b.Run("full", func(b *testing.B) {
		// raw read and load alternate so that noise from other processes
		// hits both alike; ns/op covers both
		var rawDur, loadDur time.Duration
		for range b.N {
			t0 := time.Now()
			n, err := rawLoad(ctx, store, "task-1")
			if err != nil || n != total {
				b.Fatalf("raw read: %v, %d rows", err, n)
			}
			t1 := time.Now()
			task, err := repo.Load(ctx, "task-1")
			if err != nil || task.Version() != total {
				b.Fatalf("load: %v", err)
			}
			loadDur += time.Since(t1)
			rawDur += t1.Sub(t0)
		}
		b.StopTimer()
		rate := float64(b.N*total) / loadDur.Seconds()
		raw := float64(b.N*total) / rawDur.Seconds()
		b.ReportMetric(rate, "events/s")
		b.ReportMetric(raw, "raw-events/s")
		b.ReportMetric(rate/raw, "ratio")
	})

	b.Run("snapshot-100-behind", func(b *testing.B) {
		res, err := reducer.ReduceStream(ctx, store, r, "task-1", reducer.ReadOptions{AsOfVersion: total - 100})
		if err != nil {
			b.Fatal(err)
		}
		snap, err := r.Snapshot("task-1", res)
		if err != nil {
			b.Fatal(err)
		}
		if err := store.SaveSnapshot(ctx, snap); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = store.DeleteSnapshot(ctx, "", "task-1") })
		b.ResetTimer()
		var read int64
		for range b.N {
			task, err := repo.Load(ctx, "task-1")
			if err != nil || task.Version() != total {
				b.Fatalf("load: %v", err)
			}
			read, _ = aggregate.LoadInfo(task)
		}
		b.StopTimer()
		if read != 100 {
			b.Fatalf("load read %d events, want the 100 after the snapshot", read)
		}
		b.ReportMetric(float64(read), "events-read/load")
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "loads/s")
	})
}
