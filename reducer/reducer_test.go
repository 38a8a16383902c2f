package reducer_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/reducer"
)

func TestReduceTable(t *testing.T) {
	created := ev("task:created", TaskCreated{Title: "write docs"})
	renamed := ev("task:renamed", TaskRenamed{Title: "write good docs"})
	completed := ev("task:completed", nil)
	unknown := ev("task:archived", map[string]any{})
	badData := eventstore.Event{ID: eventstore.NewID(), Type: "task:renamed", Data: []byte(`{"title": 42}`)}

	tests := []struct {
		name    string
		opts    []reducer.Option
		events  []eventstore.Event
		want    Task
		wantErr error
	}{
		{name: "no events", want: Task{}},
		{name: "created", events: []eventstore.Event{created}, want: Task{Title: "write docs"}},
		{name: "renamed twice", events: []eventstore.Event{created, renamed, renamed},
			want: Task{Title: "write good docs", Renames: 2}},
		{name: "raw handler", events: []eventstore.Event{created, completed},
			want: Task{Title: "write docs", Done: true}},
		{name: "unknown rejected by default", events: []eventstore.Event{created, unknown},
			wantErr: reducer.ErrUnhandled},
		{name: "unknown skipped", opts: []reducer.Option{reducer.WithUnknown(reducer.Skip)},
			events: []eventstore.Event{created, unknown, completed}, want: Task{Title: "write docs", Done: true}},
		{name: "bad payload", events: []eventstore.Event{created, badData}, wantErr: reducer.ErrDecode},
		{name: "bad payload even when skipping unknown", opts: []reducer.Option{reducer.WithUnknown(reducer.Skip)},
			events: []eventstore.Event{badData}, wantErr: reducer.ErrDecode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTasks(tt.opts...)
			got, err := r.Reduce(seq(tt.events...))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestUnhandledErrorNamesType(t *testing.T) {
	e := ev("task:archived", nil)
	_, err := newTasks().Reduce(seq(e))
	var ue *reducer.UnhandledError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, "task:archived", ue.Type)
	assert.Equal(t, e.ID, ue.EventID)
	assert.Contains(t, err.Error(), `"task:archived"`)
}

func TestDefaultHandlerCatchesTheRest(t *testing.T) {
	r := newTasks()
	var seen []string
	r.Default(func(t Task, e eventstore.Event) Task {
		seen = append(seen, e.Type)
		return t
	})
	got, err := r.Reduce(seq(ev("task:created", TaskCreated{Title: "a"}), ev("x:one", nil), ev("x:two", nil)))
	require.NoError(t, err)
	assert.Equal(t, Task{Title: "a"}, got)
	assert.Equal(t, []string{"x:one", "x:two"}, seen)
}

func TestFoldCountsAndCursor(t *testing.T) {
	r := newTasks()
	a := created(ev("task:created", TaskCreated{Title: "a"}), 1)
	b := created(ev("task:renamed", TaskRenamed{Title: "b"}), 2)
	res, err := r.Fold(r.Start(), seq(a, b))
	require.NoError(t, err)
	assert.Equal(t, int64(2), res.Version)
	assert.Equal(t, int64(2), res.EventsRead)
	assert.Equal(t, eventstore.CursorOf(b), res.Cursor)

	// continuing from a result keeps counting
	c := created(ev("task:completed", nil), 3)
	res, err = r.Fold(res, seq(c))
	require.NoError(t, err)
	assert.Equal(t, int64(3), res.Version)
	assert.True(t, res.State.Done)
}

func TestFoldStopsAtIteratorError(t *testing.T) {
	boom := errors.New("boom")
	events := func(yield func(eventstore.Event, error) bool) {
		if !yield(ev("task:created", TaskCreated{Title: "a"}), nil) {
			return
		}
		yield(eventstore.Event{}, boom)
	}
	res, err := newTasks().Fold(newTasks().Start(), events)
	require.ErrorIs(t, err, boom)
	assert.Equal(t, int64(1), res.Version)
}

func TestRegistrationMistakesPanic(t *testing.T) {
	r := newTasks()
	assert.Panics(t, func() {
		reducer.On(r, "task:created", func(t Task, _ eventstore.Event, _ TaskCreated) Task { return t })
	}, "duplicate handler")
	assert.Panics(t, func() { r.OnRaw("", func(t Task, _ eventstore.Event) Task { return t }) }, "empty type")
	assert.Panics(t, func() { reducer.New[Task]("", func() Task { return Task{} }) }, "empty name")
}

func TestSnapshotNameCarriesVersion(t *testing.T) {
	assert.Equal(t, "task@v1", newTasks().SnapshotName())
	assert.Equal(t, "task@v7", newTasks(reducer.WithVersion(7)).SnapshotName())
}

func TestPointerState(t *testing.T) {
	type counter struct{ N int }
	r := reducer.New("counter", func() *counter { return &counter{} })
	r.OnRaw("inc", func(c *counter, _ eventstore.Event) *counter { c.N++; return c })
	events := make([]eventstore.Event, 5)
	for i := range events {
		events[i] = ev("inc", nil)
	}
	got, err := r.Reduce(seq(events...))
	require.NoError(t, err)
	assert.Equal(t, 5, got.N)

	// snapshots round-trip through the codec into a fresh pointer
	snap, err := r.Snapshot("c1", reducer.Result[*counter]{State: got, Version: 5, Cursor: eventstore.Cursor{Created: 1, ID: "x"}})
	require.NoError(t, err)
	back, err := r.Restore(snap)
	require.NoError(t, err)
	assert.Equal(t, 5, back.State.N)
	assert.NotSame(t, got, back.State)
	assert.Equal(t, int64(5), back.Version)
	assert.True(t, back.FromSnapshot)
}
