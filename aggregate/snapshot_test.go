package aggregate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/reducer"
)

func snapshotVersion(t *testing.T, store testStore, name, stream string) int64 {
	t.Helper()
	snap, err := store.LoadSnapshot(context.Background(), name, stream)
	if err != nil {
		require.ErrorIs(t, err, eventstore.ErrNotFound)
		return 0
	}
	return snap.Version
}

func TestSnapshotPolicy(t *testing.T) {
	tests := []struct {
		name     string
		every    int
		batches  []int // events raised per command, after task:created
		wantSnap int64
		wantTail int64
	}{
		{name: "every 5, one event per command", every: 5, batches: []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, wantSnap: 10, wantTail: 2},
		{name: "every 5, a command crossing the boundary", every: 5, batches: []int{3, 3}, wantSnap: 7, wantTail: 0},
		{name: "every 5, not reached", every: 5, batches: []int{1, 2}, wantSnap: 0, wantTail: 4},
		{name: "disabled", every: 0, batches: []int{5, 5, 5}, wantSnap: 0, wantTail: 16},
		{name: "every event", every: 1, batches: []int{1, 2}, wantSnap: 4, wantTail: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			store := newMemory(t)
			repo := aggregate.NewRepository(store, newTaskReducer(), aggregate.WithSnapshotEvery(tt.every))
			_, err := aggregate.Execute(ctx, repo, "task-1", create, CreateInput{Title: "x"})
			require.NoError(t, err)
			n := 0
			for _, k := range tt.batches {
				_, err := repo.Update(ctx, "task-1", func(task *Ticket) error {
					for range k {
						n++
						if err := note(task, NoteInput{Note: fmt.Sprint(n)}); err != nil {
							return err
						}
					}
					return nil
				})
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantSnap, snapshotVersion(t, store, "task@v1", "task-1"))

			task, err := repo.Load(ctx, "task-1")
			require.NoError(t, err)
			read, fromSnap := aggregate.LoadInfo(task)
			assert.Equal(t, tt.wantTail, read, "events read on load")
			assert.Equal(t, tt.wantSnap > 0, fromSnap)

			// deleting every snapshot changes nothing
			require.NoError(t, store.DeleteSnapshot(ctx, "", "task-1"))
			full, err := repo.Load(ctx, "task-1")
			require.NoError(t, err)
			assert.Equal(t, task.Notes, full.Notes)
			assert.Equal(t, task.Version(), full.Version())
			assert.Len(t, full.Notes, n)
		})
	}
}

// A snapshot holds what the stored events give, even for handlers that read
// fields the store assigns (Created, Position).
func TestSnapshotFoldsStoredEvents(t *testing.T) {
	ctx := context.Background()
	type Stamped struct {
		aggregate.Root
		Created  eventstore.Timestamp `json:"created"`
		Position int64                `json:"position"`
	}
	r := reducer.New("stamped", func() *Stamped { return &Stamped{} })
	r.OnRaw("touched", func(s *Stamped, e eventstore.Event) *Stamped {
		s.Created, s.Position = e.Created, e.Position
		return s
	})
	store := newMemory(t)
	repo := aggregate.NewRepository(store, r, aggregate.WithSnapshotEvery(1))
	_, err := repo.Update(ctx, "s-1", func(s *Stamped) error { return s.Raise("touched", nil) })
	require.NoError(t, err)

	snap, err := store.LoadSnapshot(ctx, "stamped@v1", "s-1")
	require.NoError(t, err)
	var got Stamped
	require.NoError(t, json.Unmarshal(snap.State, &got))
	var stored eventstore.Event
	for e, err := range store.ReadStream(ctx, "s-1", eventstore.ReadOptions{}) {
		require.NoError(t, err)
		stored = e
	}
	assert.Equal(t, stored.Created, got.Created)
	assert.Equal(t, stored.Position, got.Position)
	assert.NotZero(t, got.Created)
}

// TestLoadReadsOnlyTheTail loads a 3,000-event aggregate from SQLite whose
// snapshot is 100 events behind the head: the load must read exactly those
// 100 events and give the state of the full fold. (BenchmarkLoadSQLite
// checks the same at 10,000 events.)
func TestLoadReadsOnlyTheTail(t *testing.T) {
	ctx := context.Background()
	store := backends[1].open(t, eventstore.Config{})
	const total, behind = 3_000, 100
	appendRenames(t, store, "task-1", total)
	r := newTaskReducer()
	repo := aggregate.NewRepository(store, r)

	res, err := reducer.ReduceStream(ctx, store, r, "task-1", reducer.ReadOptions{AsOfVersion: total - behind})
	require.NoError(t, err)
	snap, err := r.Snapshot("task-1", res)
	require.NoError(t, err)
	require.NoError(t, store.SaveSnapshot(ctx, snap))

	task, err := repo.Load(ctx, "task-1")
	require.NoError(t, err)
	read, fromSnap := aggregate.LoadInfo(task)
	assert.True(t, fromSnap)
	assert.Equal(t, int64(behind), read)
	assert.Equal(t, int64(total), task.Version())

	full, err := reducer.ReduceStream(ctx, store, r, "task-1", reducer.ReadOptions{IgnoreSnapshot: true})
	require.NoError(t, err)
	assert.Equal(t, int64(total), full.EventsRead)
	assert.Equal(t, full.State.Title, task.Title)
	assert.Equal(t, full.State.Renames, task.Renames)
	assert.Equal(t, total-1, task.Renames)
}

// appendRenames writes a task:created and n-1 task:renamed events.
func appendRenames(t testing.TB, store eventstore.Store, stream string, n int) {
	t.Helper()
	events := make([]eventstore.Event, 0, 1000)
	flush := func() {
		_, err := store.Append(context.Background(), eventstore.Write{Stream: stream, Events: events})
		require.NoError(t, err)
		events = events[:0]
	}
	for i := range n {
		typ := "task:renamed"
		if i == 0 {
			typ = "task:created"
		}
		events = append(events, eventstore.Event{Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"title":"title %d"}`, i))})
		if len(events) == cap(events) {
			flush()
		}
	}
	if len(events) > 0 {
		flush()
	}
}
