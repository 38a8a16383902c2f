package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/eventstore/storetest"
)

// TestInsertBatchMatchesMemory feeds the same random batches (late and out
// of order events across streams and types, more rows than one multi-row
// INSERT holds, repeated IDs within and across batches, hub positions
// arriving on repeats) to this store and the memory store through Update,
// and requires identical results, ledgers, stream versions and surviving
// snapshots.
func TestInsertBatchMatchesMemory(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "events.db"), Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	m := memory.New(eventstore.Config{})
	t.Cleanup(func() { _ = m.Close() })
	stores := []interface {
		eventstore.Store
		eventstore.Snapshots
	}{s, m}

	rng := rand.New(rand.NewPCG(1, 2))
	base := eventstore.TimestampOf(time.Now().Add(-time.Hour)).Millis()
	streams := []string{"a", "b", "c", "d", "e"}
	types := []string{"x", "y", "z"}
	var sent []eventstore.Event
	hub := int64(0)
	for round := range 6 {
		// Snapshots at random cursors: later batches invalidate some.
		for _, st := range streams {
			snap := eventstore.Snapshot{Name: "r", Stream: st, Version: 1, State: []byte("{}"),
				Cursor: eventstore.Cursor{Created: eventstore.MakeTimestamp(base+int64(rng.IntN(2000)), 0), ID: eventstore.NewID()}}
			for _, store := range stores {
				require.NoError(t, store.SaveSnapshot(ctx, snap))
			}
		}
		batch := make([]eventstore.Event, 0, 150)
		for range 150 {
			if len(sent) > 0 && rng.IntN(8) == 0 { // a repeat, maybe now with a hub position
				e := sent[rng.IntN(len(sent))]
				if rng.IntN(2) == 0 {
					hub++
					e.HubPosition = hub
				}
				batch = append(batch, e)
				continue
			}
			e := eventstore.Event{
				ID: eventstore.NewID(), Stream: streams[rng.IntN(len(streams))], Type: types[rng.IntN(len(types))],
				Created: eventstore.MakeTimestamp(base+int64(rng.IntN(2000)), 0), Origin: "remote",
				Data: []byte(fmt.Sprintf(`{"round":%d}`, round)),
			}
			if rng.IntN(2) == 0 {
				hub++
				e.HubPosition = hub
			}
			batch = append(batch, e)
			sent = append(sent, e)
		}
		var results [2][]eventstore.InsertResult
		for i, store := range stores {
			err := store.Update(ctx, func(tx eventstore.Tx) error {
				var err error
				results[i], err = tx.Insert(ctx, batch...)
				return err
			})
			require.NoError(t, err)
		}
		require.Equal(t, storetest.Outcomes(results[1]), storetest.Outcomes(results[0]), "round %d", round)
		for j, r := range results[0] {
			if r.Inserted {
				require.Equal(t, results[1][j].Event, r.Event, "round %d: the stored event", round)
			}
		}
	}

	var ledgers [2][]eventstore.Event
	for i, store := range stores {
		for e, err := range store.ReadAll(ctx, 0, 0) {
			require.NoError(t, err)
			ledgers[i] = append(ledgers[i], e)
		}
	}
	require.Len(t, ledgers[0], len(sent))
	assert.Equal(t, ledgers[1], ledgers[0])
	for _, st := range streams {
		vs, err := s.StreamVersion(ctx, st)
		require.NoError(t, err)
		vm, err := m.StreamVersion(ctx, st)
		require.NoError(t, err)
		assert.Equal(t, vm, vs, st)
		_, errS := s.LoadSnapshot(ctx, "r", st)
		_, errM := m.LoadSnapshot(ctx, "r", st)
		assert.Equal(t, errM == nil, errS == nil, "snapshot of %s kept", st)
	}
}

// TestInsertIDsBelowGreatest: Insert looks up only the IDs at or below the
// greatest stored one. An event from a device whose IDs are older than the
// store's newest is new, a copy of a stored event below or at the greatest
// ID is a duplicate, an ID above it is new, and a second copy of that one
// in the same call is a duplicate of the first.
func TestInsertIDsBelowGreatest(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	ids := make([]string, 4)
	for i := range ids {
		ids[i] = eventstore.NewID()
	}
	require.True(t, ids[0] < ids[1] && ids[1] < ids[2] && ids[2] < ids[3])
	event := func(id string, hub int64) eventstore.Event {
		return eventstore.Event{ID: id, Stream: "s", Type: "t", Created: eventstore.Timestamp(1000), Origin: "remote", HubPosition: hub}
	}
	_, err := s.Insert(ctx, event(ids[0], 0), event(ids[2], 0))
	require.NoError(t, err)

	res, err := s.Insert(ctx, event(ids[1], 0), event(ids[0], 0), event(ids[3], 0), event(ids[2], 7), event(ids[3], 9))
	require.NoError(t, err)
	assert.Equal(t, []storetest.Outcome{
		{ID: ids[1], Inserted: true, Position: 3, Outdated: true}, // ids[2] sorts after it
		{ID: ids[0], Position: 1},
		{ID: ids[3], Inserted: true, Position: 4},
		{ID: ids[2], Position: 2},
		{ID: ids[3], Position: 4},
	}, storetest.Outcomes(res))
	var got []string
	for e, err := range s.ReadAll(ctx, 0, 0) {
		require.NoError(t, err)
		got = append(got, e.ID)
		switch e.ID {
		case ids[2]:
			assert.Equal(t, int64(7), e.HubPosition, "the repeat's hub position is recorded")
		case ids[3]:
			assert.Equal(t, int64(9), e.HubPosition, "the second copy's hub position is taken")
		}
	}
	assert.Equal(t, []string{ids[0], ids[2], ids[1], ids[3]}, got)
}
