package projector_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/projector"
)

// ProjectInserted handles events inside the caller's transaction only when
// they follow the checkpoint without a gap, and its post-commit function
// moves the position WaitFor reports.
func TestProjectInserted(t *testing.T) {
	ctx := context.Background()
	store := memory.New(eventstore.Config{Origin: "dev"})
	defer store.Close()
	var handled []int64
	h := projector.NewHandlers()
	projector.On(h, "note:added", func(_ context.Context, _ eventstore.Tx, e eventstore.Event, _ json.RawMessage) error {
		handled = append(handled, e.Position)
		return nil
	})
	p, err := projector.New("notes", store, projector.Options{Handlers: h})
	require.NoError(t, err)

	insert := func(n int) []eventstore.Event {
		events := make([]eventstore.Event, n)
		for i := range events {
			events[i] = eventstore.Event{ID: eventstore.NewID(), Stream: "s/" + eventstore.NewID(), Type: "note:added", Created: eventstore.NewClock().Now(), Origin: "hub"}
		}
		var out []eventstore.Event
		var commit func()
		require.NoError(t, store.Update(ctx, func(tx eventstore.Tx) error {
			res, err := tx.Insert(ctx, events...)
			if err != nil {
				return err
			}
			for _, r := range res {
				out = append(out, r.Event)
			}
			commit, err = p.ProjectInserted(ctx, tx, out)
			return err
		}))
		if commit != nil {
			commit()
		}
		return out
	}

	insert(3)
	assert.Equal(t, []int64{1, 2, 3}, handled)
	pos, err := p.Position(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), pos)
	require.NoError(t, p.WaitFor(ctx, 3))

	// Not in step: a local event the projector has not handled sits
	// between its checkpoint and the inserted events.
	local, err := store.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{{Type: "note:added"}}})
	require.NoError(t, err)
	second := insert(2)
	assert.Len(t, handled, 3, "left to Run")
	pos, err = p.Position(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), pos)

	// A gap (the checkpoint is right before the first event, but the
	// events skip a position) and empty input are refused without touching
	// anything.
	require.NoError(t, store.Update(ctx, func(tx eventstore.Tx) error {
		commit, err := p.ProjectInserted(ctx, tx, []eventstore.Event{local[0], second[1]})
		assert.Nil(t, commit)
		if err != nil {
			return err
		}
		commit, err = p.ProjectInserted(ctx, tx, nil)
		assert.Nil(t, commit)
		return err
	}))
	assert.Len(t, handled, 3)

	end, err := p.CatchUp(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(6), end)
	assert.Equal(t, []int64{1, 2, 3, 4, 5, 6}, handled)
}

// A batch handler that reorders its slice moves nothing: the checkpoint is
// the batch's last position whatever the handler does with its copy.
func TestBatchHandlerReorderKeepsCheckpoint(t *testing.T) {
	ctx := context.Background()
	store := memory.New(eventstore.Config{Origin: "dev"})
	defer store.Close()
	handled := map[int64]int{}
	h := projector.NewHandlers()
	projector.OnBatch(h, func(_ context.Context, _ eventstore.Tx, events []eventstore.Event) error {
		for _, e := range events {
			handled[e.Position]++
		}
		slices.Reverse(events)
		return nil
	}, "note:added")
	p, err := projector.New("notes", store, projector.Options{Handlers: h, BatchSize: 10})
	require.NoError(t, err)
	for range 25 {
		_, err := store.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{{Type: "note:added"}}})
		require.NoError(t, err)
	}
	end, err := p.CatchUp(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(25), end)
	require.Len(t, handled, 25)
	for pos, n := range handled {
		assert.Equal(t, 1, n, "event %d", pos)
	}
}

// ProjectInserted hands batch handlers at most BatchSize events per call,
// however many were inserted.
func TestProjectInsertedBatchSize(t *testing.T) {
	ctx := context.Background()
	store := memory.New(eventstore.Config{Origin: "dev"})
	defer store.Close()
	var sizes []int
	h := projector.NewHandlers()
	projector.OnBatch(h, func(_ context.Context, _ eventstore.Tx, events []eventstore.Event) error {
		sizes = append(sizes, len(events))
		return nil
	}, "note:added")
	p, err := projector.New("notes", store, projector.Options{Handlers: h, BatchSize: 16})
	require.NoError(t, err)
	events := make([]eventstore.Event, 100)
	for i := range events {
		events[i] = eventstore.Event{ID: eventstore.NewID(), Stream: "s/" + eventstore.NewID(), Type: "note:added", Created: eventstore.NewClock().Now(), Origin: "hub"}
	}
	var commit func()
	require.NoError(t, store.Update(ctx, func(tx eventstore.Tx) error {
		res, err := tx.Insert(ctx, events...)
		if err != nil {
			return err
		}
		stored := make([]eventstore.Event, len(res))
		for i, r := range res {
			stored[i] = r.Event
		}
		commit, err = p.ProjectInserted(ctx, tx, stored)
		return err
	}))
	require.NotNil(t, commit)
	commit()
	assert.Equal(t, []int{16, 16, 16, 16, 16, 16, 4}, sizes)
	require.NoError(t, p.WaitFor(ctx, 100))
}
