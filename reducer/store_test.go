package reducer_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/reducer"
)

// history stores task-1's history at known times: created "a" at 10,
// renamed to "b" at 20 and "c" at 30, completed at 40.
func history(t *testing.T, s eventstore.Store) []eventstore.Event {
	return insert(t, s, "task-1",
		created(ev("task:created", TaskCreated{Title: "a"}), 10),
		created(ev("task:renamed", TaskRenamed{Title: "b"}), 20),
		created(ev("task:renamed", TaskRenamed{Title: "c"}), 30),
		created(ev("task:completed", nil), 40),
	)
}

func TestTimeTravel(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		opts        reducer.ReadOptions
		want        Task
		wantVersion int64
	}{
		{"everything", reducer.ReadOptions{}, Task{Title: "c", Renames: 2, Done: true}, 4},
		{"as of version 1", reducer.ReadOptions{AsOfVersion: 1}, Task{Title: "a"}, 1},
		{"as of version 2", reducer.ReadOptions{AsOfVersion: 2}, Task{Title: "b", Renames: 1}, 2},
		{"as of version past the end", reducer.ReadOptions{AsOfVersion: 99}, Task{Title: "c", Renames: 2, Done: true}, 4},
		{"before the first event", reducer.ReadOptions{Until: at(9)}, Task{}, 0},
		{"at the first event", reducer.ReadOptions{Until: at(10)}, Task{Title: "a"}, 1},
		{"between events", reducer.ReadOptions{Until: at(35)}, Task{Title: "c", Renames: 2}, 3},
		{"version and time, time tighter", reducer.ReadOptions{AsOfVersion: 3, Until: at(25)}, Task{Title: "b", Renames: 1}, 2},
		{"version and time, version tighter", reducer.ReadOptions{AsOfVersion: 1, Until: at(35)}, Task{Title: "a"}, 1},
	}
	// each case runs without a snapshot, with one at version 2 (inside
	// most bounds) and with one at the head (outside most bounds)
	for _, snapAt := range []int64{0, 2, 4} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/snapshot at %d", tt.name, snapAt), func(t *testing.T) {
				s := newStore(t)
				history(t, s)
				r := newTasks()
				if snapAt > 0 {
					res, err := reducer.ReduceStream(ctx, s, r, "task-1", reducer.ReadOptions{AsOfVersion: snapAt})
					require.NoError(t, err)
					snap, err := r.Snapshot("task-1", res)
					require.NoError(t, err)
					require.NoError(t, s.SaveSnapshot(ctx, snap))
				}
				got, err := reducer.ReduceStream(ctx, s, r, "task-1", tt.opts)
				require.NoError(t, err)
				assert.Equal(t, tt.want, got.State)
				assert.Equal(t, tt.wantVersion, got.Version)
				if got.FromSnapshot {
					assert.Equal(t, tt.wantVersion-snapAt, got.EventsRead, "only the tail is read")
				}
			})
		}
	}
}

func TestReduceStreamUsesSnapshot(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	events := history(t, s)
	r := newTasks()

	res, err := reducer.ReduceStream(ctx, s, r, "task-1", reducer.ReadOptions{AsOfVersion: 3})
	require.NoError(t, err)
	saved, err := reducer.SaveSnapshot(ctx, s, r, "task-1", res)
	require.NoError(t, err)
	assert.False(t, saved, "a time-travel result does not cover the stream and is not saved")

	full, err := reducer.ReduceStream(ctx, s, r, "task-1", reducer.ReadOptions{})
	require.NoError(t, err)
	assert.False(t, full.FromSnapshot)
	saved, err = reducer.SaveSnapshot(ctx, s, r, "task-1", full)
	require.NoError(t, err)
	require.True(t, saved)

	snap, err := s.LoadSnapshot(ctx, "task@v1", "task-1")
	require.NoError(t, err)
	assert.Equal(t, eventstore.CursorOf(events[3]), snap.Cursor)
	assert.Equal(t, int64(4), snap.Version)

	// one more event: the fold reads only it
	insert(t, s, "task-1", created(ev("task:renamed", TaskRenamed{Title: "d"}), 50))
	got, err := reducer.ReduceStream(ctx, s, r, "task-1", reducer.ReadOptions{})
	require.NoError(t, err)
	assert.True(t, got.FromSnapshot)
	assert.Equal(t, int64(1), got.EventsRead)
	assert.Equal(t, int64(5), got.Version)
	assert.Equal(t, Task{Title: "d", Renames: 3, Done: true}, got.State)

	// a reducer with another version does not reuse the snapshot
	v2, err := reducer.ReduceStream(ctx, s, newTasks(reducer.WithVersion(2)), "task-1", reducer.ReadOptions{})
	require.NoError(t, err)
	assert.False(t, v2.FromSnapshot)
	assert.Equal(t, got.State, v2.State)
}

func TestCorruptSnapshotIsIgnored(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	events := history(t, s)
	require.NoError(t, s.SaveSnapshot(ctx, eventstore.Snapshot{Name: "task@v1", Stream: "task-1",
		Cursor: eventstore.CursorOf(events[1]), Version: 2, State: []byte(`{"title": 17}`)}))
	got, err := reducer.ReduceStream(ctx, s, newTasks(), "task-1", reducer.ReadOptions{})
	require.NoError(t, err)
	assert.False(t, got.FromSnapshot)
	assert.Equal(t, Task{Title: "c", Renames: 2, Done: true}, got.State)
}

func TestSaveSnapshotSkipsStaleResult(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	history(t, s)
	r := newTasks()
	res, err := reducer.ReduceStream(ctx, s, r, "task-1", reducer.ReadOptions{})
	require.NoError(t, err)
	// an event arrives late, sorting before res.Cursor, after the fold
	insert(t, s, "task-1", created(ev("task:renamed", TaskRenamed{Title: "late"}), 15))
	saved, err := reducer.SaveSnapshot(ctx, s, r, "task-1", res)
	require.NoError(t, err)
	assert.False(t, saved)
	_, err = s.LoadSnapshot(ctx, r.SnapshotName(), "task-1")
	require.ErrorIs(t, err, eventstore.ErrNotFound)

	saved, err = reducer.SaveSnapshot(ctx, s, r, "task-1", r.Start())
	require.NoError(t, err)
	assert.False(t, saved, "an empty fold is not saved")
}

func TestReduceRelated(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	// two tasks of one project, interleaved in time, and an unrelated one
	insert(t, s, "task-1", created(ev("task:created", TaskCreated{Title: "1"}), 1), created(ev("task:completed", nil), 4))
	insert(t, s, "task-2", created(ev("task:created", TaskCreated{Title: "2"}), 2), created(ev("task:completed", nil), 3))
	insert(t, s, "task-3", created(ev("task:created", TaskCreated{Title: "3"}), 5))
	require.NoError(t, s.AddRelations(ctx, "project:p", "task-2", "task-1"))

	// a project summary: titles in creation order and completions in order
	type summary struct {
		Titles    []string
		Completed []string
	}
	r := reducer.New("project", func() summary { return summary{} })
	reducer.On(r, "task:created", func(s summary, _ eventstore.Event, d TaskCreated) summary {
		s.Titles = append(s.Titles, d.Title)
		return s
	})
	r.OnRaw("task:completed", func(s summary, e eventstore.Event) summary {
		s.Completed = append(s.Completed, e.Stream)
		return s
	})

	tests := []struct {
		name string
		key  string
		opts reducer.ReadOptions
		want summary
		n    int64
	}{
		{"all", "project:p", reducer.ReadOptions{}, summary{[]string{"1", "2"}, []string{"task-2", "task-1"}}, 4},
		{"as of version 3", "project:p", reducer.ReadOptions{AsOfVersion: 3}, summary{[]string{"1", "2"}, []string{"task-2"}}, 3},
		{"until 2", "project:p", reducer.ReadOptions{Until: at(2)}, summary{Titles: []string{"1", "2"}}, 2},
		{"no relation", "project:none", reducer.ReadOptions{}, summary{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reducer.ReduceRelated(ctx, s, r, tt.key, tt.opts)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.State)
			assert.Equal(t, tt.n, got.Version)
		})
	}
}

func TestReduceStreamReportsStoreErrors(t *testing.T) {
	s := newStore(t)
	history(t, s)
	require.NoError(t, s.Close())
	_, err := reducer.ReduceStream(context.Background(), s, newTasks(), "task-1", reducer.ReadOptions{})
	require.ErrorIs(t, err, eventstore.ErrClosed)
}
