package projectortest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
)

// testLiveFollow starts a projector behind the head: it catches up, then
// follows events appended while it runs.
func testLiveFollow(t *testing.T, open Opener) {
	ctx := testCtx(t)
	e := newEnv(t, open, projector.EffectOptions{}, nil)
	for i := range 20 {
		appendOne(t, e.store, Local(TaskCreated, "backlog", title(i)))
	}
	p := e.projector("live", projector.Options{BatchSize: 7})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()

	require.NoError(t, p.WaitFor(ctx, 20))
	assert.Equal(t, title(19), ReadModel(t, e.store)["backlog"])

	var last eventstore.Event
	for i := range 10 {
		last = appendOne(t, e.store, Local(TaskCreated, "live", title(i)))
		require.NoError(t, p.WaitFor(ctx, last.Position))
		assert.Equal(t, title(i), ReadModel(t, e.store)["live"])
	}
	ins := insertOne(t, e.store, Remote(TaskCreated, "remote", "r", now(0)))
	require.NoError(t, p.WaitFor(ctx, ins.Event.Position))
	assert.Equal(t, "r", ReadModel(t, e.store)["remote"])

	stop()
	require.NoError(t, <-done, "Run returns nil when its context ends")
	cp, err := p.Position(ctx)
	require.NoError(t, err)
	assert.Equal(t, ins.Event.Position, cp)
	assert.Equal(t, 31, e.rec.Count("on"), "each event projected once")
}

// testAtomicity checks that a failing handler rolls back both its read
// model writes and the checkpoint, and never the event.
func testAtomicity(t *testing.T, open Opener) {
	ctx := testCtx(t)
	var poison atomic.Value
	poison.Store("")
	e := newEnv(t, open, projector.EffectOptions{}, func(h *projector.Handlers) {
		projector.On(h, TaskRenamed, func(ctx context.Context, tx eventstore.Tx, ev eventstore.Event, d Task) error {
			if err := eventstore.KeyValuesOf(tx).SetState(ctx, "audit/"+ev.ID, []byte("x")); err != nil {
				return err
			}
			if d.Title == poison.Load() {
				return errors.New("boom")
			}
			return nil
		})
	})
	poison.Store("bad")
	appendOne(t, e.store, Local(TaskCreated, "a", "one"))
	good := appendOne(t, e.store, Local(TaskRenamed, "a", "two"))
	bad := appendOne(t, e.store, Local(TaskRenamed, "a", "bad"))
	appendOne(t, e.store, Local(TaskRenamed, "a", "after"))

	p := e.projector("atomic", projector.Options{})
	_, err := p.CatchUp(ctx)
	require.Error(t, err)
	var herr *projector.HandlerError
	require.ErrorAs(t, err, &herr)
	assert.Equal(t, bad.ID, herr.Event.ID)

	cp, err := p.Position(ctx)
	require.NoError(t, err)
	assert.Equal(t, good.Position, cp, "events before the failing one commit, the failing one does not")
	assert.Equal(t, "two", ReadModel(t, e.store)["a"], "the failing event's read-model write rolled back")
	_, err = e.store.State(ctx, "audit/"+bad.ID)
	assert.ErrorIs(t, err, eventstore.ErrNotFound)
	head, err := e.store.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(4), head, "the event insert is never rolled back")

	// Fixed: the next run starts with the failed event.
	poison.Store("")
	_, err = p.CatchUp(ctx)
	require.NoError(t, err)
	assert.Equal(t, "after", ReadModel(t, e.store)["a"])
	_, err = e.store.State(ctx, "audit/"+bad.ID)
	assert.NoError(t, err)
}

// testRetryPolicy checks bounded retries: a transient failure is retried,
// a permanent one stops after the attempts run out.
func testRetryPolicy(t *testing.T, open Opener) {
	ctx := testCtx(t)
	var failures atomic.Int64
	e := newEnv(t, open, projector.EffectOptions{}, func(h *projector.Handlers) {
		projector.All(h, TaskRenamed, func(ctx context.Context, tx eventstore.Tx, ev eventstore.Event, d Task) error {
			if failures.Add(-1) >= 0 {
				return errors.New("transient")
			}
			return nil
		})
	})
	appendOne(t, e.store, Local(TaskRenamed, "a", "x"))
	retry := projector.Backoff{Attempts: 3, Initial: time.Millisecond, Max: 2 * time.Millisecond}

	failures.Store(2)
	p := e.projector("retry", projector.Options{OnError: projector.Retry, Retry: retry})
	pos, err := p.CatchUp(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), pos)
	assert.Equal(t, map[string]string{"a": "x"}, ReadModel(t, e.store))

	appendOne(t, e.store, Local(TaskRenamed, "a", "y"))
	failures.Store(3)
	_, err = p.CatchUp(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "transient")
	cp, err := p.Position(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), cp)
}

// testSkipPolicy checks that skipped events are recorded and visible, and
// the projector goes on.
func testSkipPolicy(t *testing.T, open Opener) {
	ctx := testCtx(t)
	e := newEnv(t, open, projector.EffectOptions{}, func(h *projector.Handlers) {
		projector.On(h, TaskRenamed, func(ctx context.Context, tx eventstore.Tx, ev eventstore.Event, d Task) error {
			if d.Title == "bad" {
				return errors.New("cannot rename to bad")
			}
			return nil
		})
	})
	appendOne(t, e.store, Local(TaskCreated, "a", "one"))
	bad := appendOne(t, e.store, Local(TaskRenamed, "a", "bad"))
	appendOne(t, e.store, Local(TaskRenamed, "b", "fine"))

	p := e.projector("skip", projector.Options{OnError: projector.Skip})
	pos, err := p.CatchUp(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), pos)
	assert.Equal(t, map[string]string{"a": "one", "b": "fine"}, ReadModel(t, e.store))

	fails, err := p.Failures(ctx)
	require.NoError(t, err)
	require.Len(t, fails, 1)
	assert.Equal(t, bad.ID, fails[0].EventID)
	assert.Equal(t, bad.Position, fails[0].Position)
	assert.Contains(t, fails[0].Error, "cannot rename to bad")

	require.NoError(t, p.ClearFailures(ctx))
	fails, err = p.Failures(ctx)
	require.NoError(t, err)
	assert.Empty(t, fails)
}

// testConcurrentRunners runs two instances of the same projector at once:
// the checkpoint check in each transaction means every event is still
// applied exactly once.
func testConcurrentRunners(t *testing.T, open Opener) {
	ctx := testCtx(t)
	e := newEnv(t, open, projector.EffectOptions{}, nil)
	const n = 200
	for i := range n {
		appendOne(t, e.store, Local(TaskCreated, "s", title(i)))
	}
	var wg sync.WaitGroup
	for range 2 {
		p := e.projector("twins", projector.Options{BatchSize: 3})
		wg.Go(func() {
			_, err := p.CatchUp(ctx)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, n, e.rec.Count("on"))
	for _, ev := range ledger(t, e.store) {
		assert.Len(t, e.rec.Calls(ev.ID), 2, "on and all once each for %d", ev.Position)
	}
}

// testProgress checks the progress reports of a catch-up and a rebuild.
func testProgress(t *testing.T, open Opener) {
	ctx := testCtx(t)
	e := newEnv(t, open, projector.EffectOptions{}, nil)
	for i := range 25 {
		appendOne(t, e.store, Local(TaskCreated, "s", title(i)))
	}
	var reports []projector.Progress
	p := e.projector("progress", projector.Options{BatchSize: 10, Progress: func(pr projector.Progress) {
		reports = append(reports, pr)
	}})
	_, err := p.CatchUp(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, reports)
	for i, r := range reports {
		assert.Equal(t, int64(25), r.Total)
		assert.False(t, r.Rebuild)
		if i > 0 {
			assert.Greater(t, r.Done, reports[i-1].Done)
		}
	}
	assert.Equal(t, int64(25), reports[len(reports)-1].Done)

	reports = nil
	_, err = p.Rebuild(ctx, ResetReadModel(t, e.store))
	require.NoError(t, err)
	require.NotEmpty(t, reports)
	assert.Equal(t, int64(0), reports[0].Done)
	assert.True(t, reports[0].Rebuild)
	assert.Equal(t, projector.Progress{Projector: "progress", Done: 25, Total: 25, Rebuild: true}, reports[len(reports)-1])
}
