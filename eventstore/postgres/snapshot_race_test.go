package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// TestSnapshotCheckThenSaveIsNotRacedByLateInsert pins the reason
// Tx.StreamVersion takes the tenant lock. A snapshot writer reads the stream
// version, then saves a snapshot claiming to fold that many events. A late
// event arriving in between must either be seen by the version read or
// invalidate the snapshot after it commits; it must never slip through the
// gap, leaving a stale snapshot that a later fold would trust.
func TestSnapshotCheckThenSaveIsNotRacedByLateInsert(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, testSchema(t), Options{})
	store, err := db.Store("snap-race", eventstore.Config{})
	require.NoError(t, err)

	_, err = store.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{
		{Type: "t", Data: []byte(`{}`)}, {Type: "t", Data: []byte(`{}`)},
	}})
	require.NoError(t, err)
	last := eventstore.Cursor{}
	for e, err := range store.ReadStream(ctx, "s", eventstore.ReadOptions{Reverse: true, Limit: 1}) {
		require.NoError(t, err)
		last = eventstore.CursorOf(e)
	}

	versionRead := make(chan struct{})
	lateDone := make(chan error, 1)
	go func() {
		<-versionRead
		// A late event sorting before the snapshot's cursor.
		_, err := store.Insert(ctx, eventstore.Event{ID: eventstore.NewID(), Stream: "s", Type: "t",
			Data: []byte(`{}`), Created: eventstore.MakeTimestamp(1, 0), Origin: "phone"})
		lateDone <- err
	}()

	err = store.Update(ctx, func(tx eventstore.Tx) error {
		v, err := tx.StreamVersion(ctx, "s")
		if err != nil {
			return err
		}
		close(versionRead)
		// Give the late insert every chance to commit inside the gap. With
		// the lock it cannot, and this wait simply runs out.
		select {
		case err := <-lateDone:
			lateDone <- err
		case <-time.After(500 * time.Millisecond):
		}
		return tx.(*Tx).SaveSnapshot(ctx, eventstore.Snapshot{Name: "n", Stream: "s", Cursor: last, Version: v, State: []byte(`{}`)})
	})
	require.NoError(t, err)
	require.NoError(t, <-lateDone)

	version, err := store.StreamVersion(ctx, "s")
	require.NoError(t, err)
	require.Equal(t, int64(3), version)
	snap, err := store.LoadSnapshot(ctx, "n", "s")
	if errors.Is(err, eventstore.ErrNotFound) {
		return // invalidated by the late event after the snapshot committed
	}
	require.NoError(t, err)
	assert.Equal(t, version, snap.Version, "a stale snapshot survived a late event")
}
