package aggregate_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
)

// sneak appends an event to stream behind the repository's back.
func sneak(t testing.TB, store eventstore.Store, stream string) {
	t.Helper()
	_, err := store.Append(context.Background(), eventstore.Write{Stream: stream,
		Events: []eventstore.Event{{Type: "task:noted", Data: []byte(`{"note":"sneaked in"}`)}}})
	require.NoError(t, err)
}

func TestRetryOnConflict(t *testing.T) {
	tests := []struct {
		name      string
		opts      []aggregate.Option
		conflicts int // how many attempts meet a concurrent write
		wantRuns  int
		wantErr   error
	}{
		{name: "no conflict", conflicts: 0, wantRuns: 1},
		{name: "one conflict, then success", conflicts: 1, wantRuns: 2},
		{name: "three conflicts, default budget suffices", conflicts: 3, wantRuns: 4},
		{name: "always conflicting, default budget", conflicts: 100, wantRuns: 1 + aggregate.DefaultRetries, wantErr: eventstore.ErrConcurrency},
		{name: "always conflicting, 5 retries", opts: []aggregate.Option{aggregate.WithRetries(5)}, conflicts: 100, wantRuns: 6, wantErr: eventstore.ErrConcurrency},
		{name: "no retries", opts: []aggregate.Option{aggregate.WithRetries(0)}, conflicts: 1, wantRuns: 1, wantErr: eventstore.ErrConcurrency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			store := newMemory(t)
			repo := aggregate.NewRepository(store, newTaskReducer(), tt.opts...)
			_, err := aggregate.Execute(ctx, repo, "task-1", create, CreateInput{Title: "x"})
			require.NoError(t, err)

			runs := 0
			got, err := repo.Update(ctx, "task-1", func(task *Ticket) error {
				runs++
				if runs <= tt.conflicts {
					sneak(t, store, "task-1") // someone else writes between our load and save
				}
				return task.Raise("task:renamed", TicketRenamed{Title: "mine"})
			})
			assert.Equal(t, tt.wantRuns, runs)
			sneaked := min(runs, tt.conflicts)
			v, verr := store.StreamVersion(ctx, "task-1")
			require.NoError(t, verr)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				var ce *eventstore.ConflictError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, "task-1", ce.Stream)
				assert.Equal(t, int64(1+sneaked), v, "nothing of ours was stored")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "mine", got.Title)
			assert.Len(t, got.Notes, sneaked, "the retry saw the concurrent writes")
			assert.Equal(t, int64(1+sneaked+1), v)
			assert.Equal(t, v, got.Version())
		})
	}
}

func TestSaveSeveralAtomically(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			store := b.open(t, eventstore.Config{})
			repo := aggregate.NewRepository(store, newTaskReducer())
			for _, id := range []string{"task-a", "task-b"} {
				_, err := aggregate.Execute(ctx, repo, id, create, CreateInput{Title: id})
				require.NoError(t, err)
			}

			load := func() (*Ticket, *Ticket) {
				a, err := repo.Load(ctx, "task-a")
				require.NoError(t, err)
				bb, err := repo.Load(ctx, "task-b")
				require.NoError(t, err)
				require.NoError(t, rename(a, RenameInput{Title: "a2"}))
				require.NoError(t, rename(bb, RenameInput{Title: "b2"}))
				return a, bb
			}

			// a conflict on b saves neither
			a, bb := load()
			sneak(t, store, "task-b")
			err := repo.Save(ctx, bb, a)
			require.ErrorIs(t, err, eventstore.ErrConcurrency)
			for id, want := range map[string]int64{"task-a": 1, "task-b": 2} {
				v, err := store.StreamVersion(ctx, id)
				require.NoError(t, err)
				assert.Equal(t, want, v, id)
			}
			assert.Len(t, a.Pending(), 1, "a failed save keeps the pending events")

			// fresh loads save both, in stream id order, in one append
			head, err := store.Head(ctx)
			require.NoError(t, err)
			a, bb = load()
			require.NoError(t, repo.Save(ctx, bb, a, bb))
			assert.Empty(t, a.Pending())
			assert.Empty(t, bb.Pending())
			var streams []string
			for e, err := range store.ReadAll(ctx, head, 0) {
				require.NoError(t, err)
				streams = append(streams, e.Stream)
			}
			assert.Equal(t, []string{"task-a", "task-b"}, streams)

			la, err := repo.Load(ctx, "task-a")
			require.NoError(t, err)
			assert.Equal(t, "a2", la.Title)
			lb, err := repo.Load(ctx, "task-b")
			require.NoError(t, err)
			assert.Equal(t, "b2", lb.Title)
			assert.Equal(t, []string{"sneaked in"}, lb.Notes)
		})
	}
}

func TestSaveDifferentTypesTogether(t *testing.T) {
	ctx := context.Background()
	store := newMemory(t)
	tasks := aggregate.NewRepository(store, newTaskReducer())
	counters := aggregate.NewRepository(store, newCounterReducer())

	task, err := tasks.New("task-1")
	require.NoError(t, err)
	require.NoError(t, create(task, CreateInput{Title: "x"}))
	c, err := counters.New("counter-1")
	require.NoError(t, err)
	require.NoError(t, c.Raise("counter:applied", Applied{Token: "t"}))
	require.NoError(t, aggregate.Save(ctx, store, task, c))

	loaded, err := counters.Load(ctx, "counter-1")
	require.NoError(t, err)
	assert.Equal(t, []string{"t"}, loaded.Tokens)

	// two distinct aggregates with one id cannot be saved together
	t1, err := tasks.New("task-2")
	require.NoError(t, err)
	t2, err := tasks.New("task-2")
	require.NoError(t, err)
	require.NoError(t, create(t1, CreateInput{Title: "1"}))
	require.NoError(t, create(t2, CreateInput{Title: "2"}))
	require.ErrorContains(t, tasks.Save(ctx, t1, t2), "two aggregates")
}
