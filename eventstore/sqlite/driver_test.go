package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
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

// A prepared statement on the writer connection under a cancellable context
// starts no goroutine: the driver would start one per execution to watch
// the context (see driver.go).
func TestWriterStatementsStartNoGoroutine(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	count := readModel(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const n = 500
	before := goroutinesCreated(t)
	err := s.Update(ctx, func(tx eventstore.Tx) error {
		db := tx.(eventstore.SQLTx).SQL()
		insert, err := db.PrepareContext(ctx, "INSERT INTO titles (id, title) VALUES (?, ?)")
		if err != nil {
			return err
		}
		defer insert.Close()
		update, err := db.PrepareContext(ctx, "UPDATE titles SET title = ? WHERE rowid = ?")
		if err != nil {
			return err
		}
		defer update.Close()
		for i := range n {
			if _, err := insert.ExecContext(ctx, eventstore.NewID(), "a title"); err != nil {
				return err
			}
			if _, err := update.ExecContext(ctx, "the title", i+1); err != nil {
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

// A prepared statement on the writer whose context has ended does not run:
// it fails with the context's error. (The calls go to the driver
// connection itself, since database/sql checks the context of a
// transaction's statement before it reaches the driver.)
func TestWriterStatementChecksContext(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "f.db")
	open(t, path, Options{}).Close()
	c, err := newWriterConnector(dsn(path, "NORMAL", writeConn, 1024))
	require.NoError(t, err)
	conn, err := c.Connect(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.(driver.ExecerContext).ExecContext(ctx, "CREATE TABLE t (n INTEGER)", nil)
	require.NoError(t, err)
	st, err := conn.(driver.ConnPrepareContext).PrepareContext(ctx, "INSERT INTO t (n) VALUES (1)")
	require.NoError(t, err)
	defer st.Close()

	ended, cancel := context.WithCancel(ctx)
	cancel()
	_, err = st.(driver.StmtExecContext).ExecContext(ended, nil)
	require.ErrorIs(t, err, context.Canceled)
	_, err = st.(driver.StmtQueryContext).QueryContext(ended, nil)
	require.ErrorIs(t, err, context.Canceled)

	_, err = st.(driver.StmtExecContext).ExecContext(ctx, nil)
	require.NoError(t, err)
	rows, err := conn.(driver.QueryerContext).QueryContext(ctx, "SELECT count(*) FROM t", nil)
	require.NoError(t, err)
	defer rows.Close()
	dest := make([]driver.Value, 1)
	require.NoError(t, rows.Next(dest))
	assert.EqualValues(t, 1, dest[0], "rows inserted")
}

// A one-off statement on the writer stays interruptible: a long query
// through Tx.SQL() (about 9 s here) is interrupted when its context ends,
// instead of running to its result, and Update returns the context's error.
func TestWriterOneOffStatementInterrupted(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var n int64
	var queryErr error
	err := s.Update(ctx, func(tx eventstore.Tx) error {
		queryErr = tx.(eventstore.SQLTx).SQL().QueryRowContext(ctx,
			`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000) SELECT count(*) FROM c`).Scan(&n)
		return queryErr
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Error(t, queryErr, "the query ran to its end (%d rows) after its context ended", n)
	assert.Zero(t, n)
}

// A transaction whose context ends while fn runs commits nothing, and
// Update says why: the statements after the end fail with the context's
// error, and a commit after it reports the context's error too.
func TestWriterTransactionSeesCancel(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	count := readModel(t, s)
	for _, returnNil := range []bool{false, true} {
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
			if returnNil {
				// Wait for database/sql to roll the transaction back, so
				// that Commit finds it done.
				for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
					_, err := db.ExecContext(context.Background(), "SELECT 1")
					if errors.Is(err, sql.ErrTxDone) || time.Now().After(deadline) {
						return nil
					}
				}
			}
			_, err := tx.Append(ctx, eventstore.Write{Stream: "task-1", Events: []eventstore.Event{{Type: "task:created"}}})
			return err
		})
		require.ErrorIs(t, err, context.Canceled, "fn returning nil: %v", returnNil)
		assert.Equal(t, 0, count())
		head, err := s.Head(context.Background())
		require.NoError(t, err)
		assert.Zero(t, head)
	}

	// The store is fine afterwards.
	require.NoError(t, s.Update(context.Background(), func(tx eventstore.Tx) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(context.Background(), "INSERT INTO titles (id, title) VALUES ('c', 'third')")
		return err
	}))
	assert.Equal(t, 1, count())
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
