package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// readModel creates a read-model table in s and returns a function counting
// its rows.
func readModel(t *testing.T, s *Store) func() int {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx, "CREATE TABLE titles (id TEXT PRIMARY KEY, title TEXT)")
		return err
	}))
	return func() int {
		var n int
		require.NoError(t, s.read.QueryRowContext(ctx, "SELECT count(*) FROM titles").Scan(&n))
		return n
	}
}

func TestSQLTxCommitsWithEvents(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	count := readModel(t, s)

	err := s.Update(ctx, func(tx eventstore.Tx) error {
		evs, err := tx.Append(ctx, eventstore.Write{Stream: "task-1", Events: []eventstore.Event{{Type: "task:created"}}})
		if err != nil {
			return err
		}
		if _, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx, "INSERT INTO titles VALUES (?, ?)", evs[0].ID, "hello"); err != nil {
			return err
		}
		return tx.(*Tx).SetCheckpoint(ctx, "titles", evs[0].Position)
	})
	require.NoError(t, err)
	assert.Equal(t, 1, count())
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), head)
	cp, err := s.Checkpoint(ctx, "titles")
	require.NoError(t, err)
	assert.Equal(t, int64(1), cp)
}

func TestSQLTxRollsBackWithEvents(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	count := readModel(t, s)
	boom := errors.New("boom")

	err := s.Update(ctx, func(tx eventstore.Tx) error {
		if _, err := tx.Append(ctx, eventstore.Write{Stream: "task-1", Events: []eventstore.Event{{Type: "task:created"}}}); err != nil {
			return err
		}
		if _, err := tx.(*Tx).SQL().ExecContext(ctx, "INSERT INTO titles VALUES ('x', 'y')"); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, 0, count())
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(0), head)

	// The rolled-back position is reused: no gap.
	evs := appendN(t, s, "task-1", 1)
	assert.Equal(t, int64(1), evs[0].Position)
}

func TestFailedAppendInsideUpdateLeavesNothing(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	first := appendN(t, s, "a", 1)[0]

	err := s.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.Append(ctx, eventstore.Write{Stream: "b", Events: []eventstore.Event{
			{Type: "t"}, {Type: "t"}, {ID: first.ID, Type: "t"}, // the third is a duplicate
		}})
		require.ErrorIs(t, err, eventstore.ErrInvalidEvent)
		var ve *eventstore.ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "id", ve.Field)
		// The caller swallows the error and commits other work.
		return tx.(*Tx).SetState(ctx, "k", []byte("v"))
	})
	require.NoError(t, err)
	v, err := s.StreamVersion(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, int64(0), v, "no event of the failed append is kept")
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), head)
	got, err := s.State(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, []byte("v"), got)
}

func TestDuplicateAppendID(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	first := appendN(t, s, "a", 1)[0]
	_, err := s.Append(ctx, eventstore.Write{Stream: "a", Events: []eventstore.Event{{ID: first.ID, Type: "t"}}})
	require.ErrorIs(t, err, eventstore.ErrInvalidEvent)
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), head)
}

func TestTxUnusableAfterUpdate(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	var kept eventstore.Tx
	require.NoError(t, s.Update(ctx, func(tx eventstore.Tx) error { kept = tx; return nil }))
	_, err := kept.Append(ctx, eventstore.Write{Stream: "a", Events: []eventstore.Event{{Type: "t"}}})
	assert.ErrorIs(t, err, errTxDone)
	assert.ErrorIs(t, kept.(*Tx).SetState(ctx, "k", nil), errTxDone)
}

func TestStateEmptyValue(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	require.NoError(t, s.SetState(ctx, "a/1", nil))
	require.NoError(t, s.SetState(ctx, "a/2", []byte{}))
	require.NoError(t, s.SetState(ctx, "b", []byte("x")))
	v, err := s.State(ctx, "a/1")
	require.NoError(t, err)
	assert.Equal(t, []byte{}, v)
	kvs, err := s.ListState(ctx, "a/")
	require.NoError(t, err)
	assert.Equal(t, []eventstore.KeyValue{{Key: "a/1", Value: []byte{}}, {Key: "a/2", Value: []byte{}}}, kvs)
}

func TestBusyIsExplained(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "f.db")
	s := open(t, path, Options{})
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)&_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	defer other.Close()
	other.SetMaxOpenConns(1)
	require.NoError(t, other.PingContext(ctx))

	err = s.Update(ctx, func(tx eventstore.Tx) error { // holds the write lock
		_, err := other.ExecContext(ctx, "INSERT INTO state (key, value) VALUES ('k', x'00')")
		require.Error(t, err)
		mapped := mapErr(err)
		assert.ErrorIs(t, mapped, errBusy)
		assert.Contains(t, mapped.Error(), "locked by another connection or process")
		return nil
	})
	require.NoError(t, err)
}

// An Insert that fails after it began writing breaks the transaction:
// Update rolls everything back and returns the failure, even when fn
// swallows it. One that fails on its input before writing leaves the
// transaction usable.
func TestInsertFailurePartWayBreaksTx(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	ev := func() eventstore.Event {
		return eventstore.Event{ID: eventstore.NewID(), Stream: "s", Type: "t", Created: eventstore.NewClock().Now(), Origin: "hub"}
	}

	err := s.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.Insert(ctx, eventstore.Event{ID: "not-a-ulid", Stream: "s", Type: "t", Created: 1, Origin: "hub"})
		require.ErrorIs(t, err, eventstore.ErrInvalidEvent)
		_, err = tx.Insert(ctx, ev())
		return err
	})
	require.NoError(t, err, "a refused input leaves the transaction usable")

	err = s.Update(ctx, func(tx eventstore.Tx) error {
		if err := tx.(*Tx).SetState(ctx, "k", []byte("v")); err != nil {
			return err
		}
		// Make the events table refuse inserts, so the Insert fails after
		// its first write statement (as an I/O error would).
		if _, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx,
			`CREATE TEMP TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk gone'); END`); err != nil {
			return err
		}
		_, err := tx.Insert(ctx, ev(), ev())
		require.ErrorContains(t, err, "disk gone")
		_, err = tx.Insert(ctx, ev())
		require.ErrorContains(t, err, "broken")
		return nil // swallow the failure
	})
	require.ErrorContains(t, err, "disk gone")
	_, err = s.State(ctx, "k")
	require.ErrorIs(t, err, eventstore.ErrNotFound, "nothing of the broken transaction committed")
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), head)
}
