package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// goroutinesCreated returns how many goroutines the process has started.
func goroutinesCreated(t testing.TB) uint64 {
	t.Helper()
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	require.Equal(t, metrics.KindUint64, s[0].Value.Kind(), "this Go lacks %s", s[0].Name)
	return s[0].Value.Uint64()
}

// A statement on the writer connection under a cancellable context starts
// no goroutine: the driver would start one per statement to watch the
// context (see driver.go).
func TestWriterStatementsStartNoGoroutine(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	count := readModel(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const n = 500
	before := goroutinesCreated(t)
	err := s.Update(ctx, func(tx eventstore.Tx) error {
		db := tx.(eventstore.SQLTx).SQL()
		st, err := db.PrepareContext(ctx, "INSERT INTO titles (id, title) VALUES (?, ?)")
		if err != nil {
			return err
		}
		defer st.Close()
		for i := range n {
			if _, err := st.ExecContext(ctx, eventstore.NewID(), "a title"); err != nil {
				return err
			}
			if _, err := db.ExecContext(ctx, "UPDATE titles SET title = ? WHERE rowid = ?", "the title", i+1); err != nil {
				return err
			}
		}
		_, err = tx.Append(ctx, eventstore.Write{Stream: "task-1", Events: []eventstore.Event{{Type: "task:created"}}})
		return err
	})
	require.NoError(t, err)
	started := goroutinesCreated(t) - before
	assert.Less(t, started, uint64(n/10), "goroutines started by %d statements", 2*n)
	assert.Equal(t, n, count())
}

// A writer statement whose context has ended fails with the context's
// error, and the transaction commits nothing.
func TestWriterStatementSeesCancel(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	count := readModel(t, s)
	ctx, cancel := context.WithCancel(context.Background())

	err := s.Update(ctx, func(tx eventstore.Tx) error {
		db := tx.(eventstore.SQLTx).SQL()
		if _, err := db.ExecContext(ctx, "INSERT INTO titles (id, title) VALUES ('a', 'first')"); err != nil {
			return err
		}
		if _, err := tx.Append(ctx, eventstore.Write{Stream: "task-1", Events: []eventstore.Event{{Type: "task:created"}}}); err != nil {
			return err
		}
		cancel()
		_, err := db.ExecContext(ctx, "INSERT INTO titles (id, title) VALUES ('b', 'second')")
		return err
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 0, count())
	head, err := s.Head(context.Background())
	require.NoError(t, err)
	assert.Zero(t, head)

	// The connection is fine afterwards.
	require.NoError(t, s.Update(context.Background(), func(tx eventstore.Tx) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(context.Background(), "INSERT INTO titles (id, title) VALUES ('c', 'third')")
		return err
	}))
	assert.Equal(t, 1, count())
}

// Ferry's own writes check the context too: an Append under an ended
// context stores nothing.
func TestWriterAppendSeesCancel(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	err := s.Update(ctx, func(tx eventstore.Tx) error {
		cancel()
		_, err := tx.Append(ctx, eventstore.Write{Stream: "task-1", Events: []eventstore.Event{{Type: "task:created"}}})
		return err
	})
	require.True(t, errors.Is(err, context.Canceled) || errors.Is(err, sql.ErrTxDone), "err = %v", err)
	head, err := s.Head(context.Background())
	require.NoError(t, err)
	assert.Zero(t, head)
}

// BenchmarkWriterStatementContext measures one-row INSERTs through
// tx.SQL(), a transaction per 1,000, against the same INSERTs on a plain
// modernc.org/sqlite connection with the same DSN, in alternating chunks
// under the same context. x_raw is Ferry's rate over the raw rate: above 1
// under a cancellable context, where the plain driver starts a goroutine
// per statement (see driver.go), and about 1 under context.Background.
func BenchmarkWriterStatementContext(b *testing.B) {
	for _, name := range []string{"cancellable", "background"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			if name == "cancellable" {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
			}
			dir := b.TempDir()
			s := benchStore(b, filepath.Join(dir, "ferry.db"))
			raw := benchDB(b, filepath.Join(dir, "raw.db"))
			const create = "CREATE TABLE rm (id INTEGER PRIMARY KEY, title TEXT)"
			const insert = "INSERT INTO rm (title) VALUES (?)"
			_, err := raw.ExecContext(ctx, create)
			require.NoError(b, err)
			require.NoError(b, s.Update(ctx, func(tx eventstore.Tx) error {
				_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx, create)
				return err
			}))
			inserts := func(db interface {
				PrepareContext(context.Context, string) (*sql.Stmt, error)
			}, n int) error {
				st, err := db.PrepareContext(ctx, insert)
				if err != nil {
					return err
				}
				defer st.Close()
				for range n {
					if _, err := st.ExecContext(ctx, "a title"); err != nil {
						return err
					}
				}
				return nil
			}
			var ferry, rawTime time.Duration
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(1000, b.N-done)
				t0 := time.Now()
				require.NoError(b, s.Update(ctx, func(tx eventstore.Tx) error {
					return inserts(tx.(eventstore.SQLTx).SQL(), n)
				}))
				t1 := time.Now()
				b.StopTimer()
				tx, err := raw.BeginTx(ctx, nil)
				require.NoError(b, err)
				require.NoError(b, inserts(tx, n))
				require.NoError(b, tx.Commit())
				t2 := time.Now()
				b.StartTimer()
				ferry += t1.Sub(t0)
				rawTime += t2.Sub(t1)
				done += n
			}
			b.ReportMetric(float64(rawTime.Nanoseconds())/float64(b.N), "raw_ns/op")
			b.ReportMetric(rawTime.Seconds()/ferry.Seconds(), "x_raw")
		})
	}
}
