package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// Two Store instances on one file stand in for two processes: they share
// nothing but the file, so the reader can only learn of the writer's commit
// through the database.
func TestWaitWakesOnCommitOfAnotherStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	reader := open(t, path, Options{})
	writer := open(t, path, Options{})
	require.NotSame(t, &reader.core.Notifier, &writer.core.Notifier)

	got := make(chan int64, 1)
	errc := make(chan error, 1)
	go func() {
		h, err := reader.Wait(context.Background(), 0)
		got <- h
		errc <- err
	}()
	appendN(t, writer, "a", 3)
	require.NoError(t, <-errc)
	assert.Equal(t, int64(3), <-got)
}

// Appends through two Store instances on one file serialise on the file's
// write lock: positions stay gap-free and stream versions stay exact.
func TestTwoStoresShareOneLedger(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "f.db")
	a := open(t, path, Options{})
	b := open(t, path, Options{})

	const per = 50
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b} {
		wg.Go(func() {
			for range per {
				_, err := s.Append(ctx, eventstore.Write{Stream: "shared", Events: []eventstore.Event{{Type: "t"}}})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()

	var want int64
	for e, err := range b.ReadAll(ctx, 0, 0) {
		require.NoError(t, err)
		want++
		assert.Equal(t, want, e.Position)
	}
	assert.Equal(t, int64(2*per), want)
	v, err := a.StreamVersion(ctx, "shared")
	require.NoError(t, err)
	assert.Equal(t, int64(2*per), v)

	// Expected versions are checked against the file, not a cached value.
	_, err = a.Append(ctx, eventstore.Write{Stream: "shared", Expect: eventstore.Exact(2 * per),
		Events: []eventstore.Event{{Type: "t"}}})
	require.NoError(t, err)
	_, err = b.Append(ctx, eventstore.Write{Stream: "shared", Expect: eventstore.Exact(2 * per),
		Events: []eventstore.Event{{Type: "t"}}})
	require.ErrorIs(t, err, eventstore.ErrConcurrency)
}

func TestIteratorEarlyBreakReleasesConnection(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{ReadConns: 1})
	appendN(t, s, "a", 10)
	for range 5 { // with one read connection, a leaked Rows would block the next read
		for _, err := range s.ReadAll(ctx, 0, 0) {
			require.NoError(t, err)
			break
		}
	}
	// Calling the store from the loop body works (reads and writes).
	n := 0
	for e, err := range s.ReadStream(ctx, "a", eventstore.ReadOptions{}) {
		require.NoError(t, err)
		_, err := s.Append(ctx, eventstore.Write{Stream: "b", Events: []eventstore.Event{{Type: "copy", Data: e.Data}}})
		require.NoError(t, err)
		n++
	}
	assert.Equal(t, 10, n)
}

// Wait answers from the positions this Store committed, and only those: a
// transaction rolled back, or a failed call inside one that commits,
// teaches it no position.
func TestWaitLearnsOnlyCommittedPositions(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.Append(ctx, eventstore.Write{Stream: "a", Events: []eventstore.Event{{Type: "t"}, {Type: "t"}}})
		require.NoError(t, err)
		return boom
	})
	require.ErrorIs(t, err, boom)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond) // past a poll: the file is asked too
	defer cancel()
	_, err = s.Wait(short, 0)
	require.ErrorIs(t, err, context.DeadlineExceeded, "nothing is committed")

	// A failed call inside a transaction that commits (its savepoint rolls
	// back) adds nothing either.
	err = s.Update(ctx, func(tx eventstore.Tx) error {
		if _, err := tx.Append(ctx, eventstore.Write{Stream: "a", Events: []eventstore.Event{{Type: "t"}}}); err != nil {
			return err
		}
		_, err := tx.Append(ctx, eventstore.Write{Stream: "b", Expect: eventstore.Exact(7), Events: []eventstore.Event{{Type: "t"}}})
		require.ErrorIs(t, err, eventstore.ErrConcurrency)
		return nil
	})
	require.NoError(t, err)
	h, err := s.Wait(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, int64(1), h)
	real, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, real, h)
}
