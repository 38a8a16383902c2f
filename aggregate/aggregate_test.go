package aggregate_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/reducer"
)

// step is one command of a scenario.
type step func(ctx context.Context, repo *aggregate.Repository[*Ticket]) (*Ticket, error)

func do[I any](cmd aggregate.Command[*Ticket, I], in I) step {
	return func(ctx context.Context, repo *aggregate.Repository[*Ticket]) (*Ticket, error) {
		return aggregate.Execute(ctx, repo, "task-1", cmd, in)
	}
}

func TestCommands(t *testing.T) {
	created := do(create, CreateInput{Title: "write docs"})
	tests := []struct {
		name        string
		before      []step
		cmd         step
		wantErr     error
		want        Ticket // compared on Title, Done, Renames
		wantVersion int64
	}{
		{name: "create", cmd: created, want: Ticket{Title: "write docs"}, wantVersion: 1},
		{name: "create twice is rejected", before: []step{created}, cmd: created, wantErr: aggregate.ErrRejected},
		{name: "create with empty title is invalid", cmd: do(create, CreateInput{Title: "  "}), wantErr: aggregate.ErrInvalidCommand},
		{name: "rename", before: []step{created}, cmd: do(rename, RenameInput{Title: "write tests"}),
			want: Ticket{Title: "write tests", Renames: 1}, wantVersion: 2},
		{name: "rename to the same title raises nothing", before: []step{created}, cmd: do(rename, RenameInput{Title: "write docs"}),
			want: Ticket{Title: "write docs"}, wantVersion: 1},
		{name: "rename with a plain validation error", before: []step{created},
			cmd: do(rename, RenameInput{Title: "a title much too long to fit"}), wantErr: aggregate.ErrInvalidCommand},
		{name: "rename a missing task", cmd: do(rename, RenameInput{Title: "x"}), wantErr: aggregate.ErrAggregateNotFound},
		{name: "rename a done task: the application's error", before: []step{created, do(complete, Complete{})},
			cmd: do(rename, RenameInput{Title: "x"}), wantErr: ErrTaskDone},
		{name: "complete", before: []step{created}, cmd: do(complete, Complete{}),
			want: Ticket{Title: "write docs", Done: true}, wantVersion: 2},
		{name: "complete twice is rejected", before: []step{created, do(complete, Complete{})},
			cmd: do(complete, Complete{}), wantErr: aggregate.ErrRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			store := newMemory(t)
			repo := aggregate.NewRepository(store, newTaskReducer())
			for _, s := range tt.before {
				_, err := s(ctx, repo)
				require.NoError(t, err)
			}
			before, err := store.StreamVersion(ctx, "task-1")
			require.NoError(t, err)

			got, err := tt.cmd(ctx, repo)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, got)
				after, err := store.StreamVersion(ctx, "task-1")
				require.NoError(t, err)
				assert.Equal(t, before, after, "a failed command stores nothing")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want.Title, got.Title)
			assert.Equal(t, tt.want.Done, got.Done)
			assert.Equal(t, tt.want.Renames, got.Renames)
			assert.Equal(t, tt.wantVersion, got.Version())
			assert.Empty(t, got.Pending())

			loaded, err := repo.Load(ctx, "task-1")
			require.NoError(t, err)
			assert.Equal(t, got.Title, loaded.Title)
			assert.Equal(t, got.Version(), loaded.Version())
		})
	}
}

func TestErrorKindsStayApart(t *testing.T) {
	ctx := context.Background()
	repo := aggregate.NewRepository(newMemory(t), newTaskReducer())
	_, err := aggregate.Execute(ctx, repo, "task-1", create, CreateInput{})
	var ve *aggregate.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "title", ve.Field)
	assert.NotErrorIs(t, err, aggregate.ErrRejected)
	assert.NotErrorIs(t, err, eventstore.ErrConcurrency)

	_, err = aggregate.Execute(ctx, repo, "task-1", create, CreateInput{Title: "a"})
	require.NoError(t, err)
	_, err = aggregate.Execute(ctx, repo, "task-1", create, CreateInput{Title: "a"})
	require.ErrorIs(t, err, aggregate.ErrRejected)
	assert.NotErrorIs(t, err, aggregate.ErrInvalidCommand)

	_, err = aggregate.Execute(ctx, repo, "task-1", complete, Complete{})
	require.NoError(t, err)
	_, err = aggregate.Execute(ctx, repo, "task-1", rename, RenameInput{Title: "b"})
	assert.Same(t, ErrTaskDone, err, "the application's own error passes through unchanged")
}

func TestRaiseFoldsImmediately(t *testing.T) {
	ctx := context.Background()
	repo := aggregate.NewRepository(newMemory(t), newTaskReducer())
	var seen []string
	got, err := repo.Update(ctx, "task-1", func(task *Ticket) error {
		if err := task.Raise("task:created", TicketCreated{Title: "one"}); err != nil {
			return err
		}
		seen = append(seen, task.Title)
		if err := task.Raise("task:renamed", TicketRenamed{Title: task.Title + "+two"}); err != nil {
			return err
		}
		seen = append(seen, task.Title)
		assert.Equal(t, int64(2), task.Version())
		assert.Len(t, task.Pending(), 2)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"one", "one+two"}, seen)
	assert.Equal(t, "one+two", got.Title)
	assert.Equal(t, int64(2), got.Version())
}

func TestRaiseErrors(t *testing.T) {
	ctx := context.Background()
	repo := aggregate.NewRepository(newMemory(t), newTaskReducer())

	var unbound Ticket
	require.ErrorIs(t, unbound.Raise("task:created", TicketCreated{}), aggregate.ErrUnbound)

	task, err := repo.New("task-1")
	require.NoError(t, err)
	require.ErrorIs(t, task.Raise("task:unknown", nil), reducer.ErrUnhandled)
	require.ErrorIs(t, task.Raise("task:created", map[string]int{"title": 1}), reducer.ErrDecode)
	require.Error(t, task.Raise("task:created", func() {}), "unencodable data")
	require.Error(t, task.RaiseEvent(eventstore.Event{Type: "task:created", Stream: "other"}))
	assert.Empty(t, task.Pending())
	assert.Equal(t, int64(0), task.Version())

	// a handler that replaces the aggregate instead of modifying it
	bad := newTaskReducer()
	bad.OnRaw("task:replaced", func(*Ticket, eventstore.Event) *Ticket { return &Ticket{} })
	badRepo := aggregate.NewRepository(newMemory(t), bad)
	task, err = badRepo.New("task-1")
	require.NoError(t, err)
	require.ErrorContains(t, task.Raise("task:replaced", nil), "in place")

	nilRepo := aggregate.NewRepository(newMemory(t), reducer.New("nil", func() *Ticket { return nil }))
	_, err = nilRepo.New("x")
	require.ErrorContains(t, err, "nil aggregate")
	_, err = nilRepo.LoadOrNew(ctx, "x")
	require.ErrorContains(t, err, "nil aggregate")
}

func TestLoadOrNotFoundAndLoadOrNew(t *testing.T) {
	ctx := context.Background()
	repo := aggregate.NewRepository(newMemory(t), newTaskReducer())

	_, err := repo.Load(ctx, "task-1")
	require.ErrorIs(t, err, aggregate.ErrAggregateNotFound)

	task, err := repo.LoadOrNew(ctx, "task-1")
	require.NoError(t, err)
	assert.False(t, task.Exists())
	assert.Equal(t, "task-1", task.ID())
	require.NoError(t, task.Raise("task:created", TicketCreated{Title: "x"}))
	require.NoError(t, repo.Save(ctx, task))

	task, err = repo.Load(ctx, "task-1")
	require.NoError(t, err)
	assert.True(t, task.Exists())
	assert.Equal(t, "x", task.Title)

	_, err = repo.Load(ctx, "")
	require.Error(t, err)
	_, err = repo.New("")
	require.Error(t, err)
}

func TestSchemaVersionIsStamped(t *testing.T) {
	ctx := context.Background()
	up := reducer.NewUpcasters()
	require.NoError(t, up.SetCurrent("task:created", 2))
	store := newMemory(t)
	repo := aggregate.NewRepository(store, newTaskReducer(reducer.WithUpcasters(up)))
	_, err := aggregate.Execute(ctx, repo, "task-1", create, CreateInput{Title: "x"})
	require.NoError(t, err)
	_, err = aggregate.Execute(ctx, repo, "task-1", rename, RenameInput{Title: "y"})
	require.NoError(t, err)
	var schemas []int
	for e, err := range store.ReadStream(ctx, "task-1", eventstore.ReadOptions{}) {
		require.NoError(t, err)
		schemas = append(schemas, e.Schema)
	}
	assert.Equal(t, []int{2, 1}, schemas)
}

func TestWithClockStampsCreatedOnRaise(t *testing.T) {
	ctx := context.Background()
	clock := eventstore.NewClock()
	store := backends[0].open(t, eventstore.Config{Clock: clock})
	r := newTaskReducer()
	var seen eventstore.Timestamp
	r.OnRaw("task:stamped", func(t *Ticket, e eventstore.Event) *Ticket { seen = e.Created; return t })
	repo := aggregate.NewRepository(store, r, aggregate.WithClock(clock))
	_, err := repo.Update(ctx, "task-1", func(t *Ticket) error { return t.Raise("task:stamped", nil) })
	require.NoError(t, err)
	require.NotZero(t, seen)
	for e, err := range store.ReadStream(ctx, "task-1", eventstore.ReadOptions{}) {
		require.NoError(t, err)
		assert.Equal(t, seen, e.Created)
	}
}
