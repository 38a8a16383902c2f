package projectortest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
)

// testEffectsLeftovers appends events while no runner is active (as after a
// crash between commit and effect) and checks that a runner started later
// runs each of them once, marks them done, and leaves no pending record.
func testEffectsLeftovers(t *testing.T, open Opener) {
	ctx := testCtx(t)
	e := newEnv(t, open, projector.EffectOptions{}, nil)
	var ids []string
	for i := range 5 {
		ids = append(ids, appendOne(t, e.store, Local(TaskCreated, "s", title(i))).ID)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.fx.Run(runCtx) }()
	got := receive(t, ctx, e.rec.once, len(ids))
	assert.ElementsMatch(t, ids, got)
	stop()
	require.NoError(t, <-done)

	doneRecs, err := e.fx.List(ctx, projector.EffectDone)
	require.NoError(t, err)
	require.Len(t, doneRecs, len(ids))
	for i, r := range doneRecs {
		assert.Equal(t, ids[i], r.Event.ID, "listed in event order")
		assert.Equal(t, 1, r.Attempts)
		assert.Equal(t, projector.EffectDone, r.Status)
	}
	pending, err := e.fx.List(ctx, projector.EffectPending)
	require.NoError(t, err)
	assert.Empty(t, pending)

	n, err := e.fx.PurgeDone(ctx, doneRecs[0].Finished)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing finished before the first")
	n, err = e.fx.PurgeDone(ctx, time.Now().Add(time.Second))
	require.NoError(t, err)
	assert.Equal(t, len(ids), n)
	doneRecs, err = e.fx.List(ctx, projector.EffectDone)
	require.NoError(t, err)
	assert.Empty(t, doneRecs)
}

// testEffectsPrompt checks that a running outbox runs an effect after each
// append without being poked, and never for inserted events.
func testEffectsPrompt(t *testing.T, open Opener) {
	ctx := testCtx(t)
	e := newEnv(t, open, projector.EffectOptions{}, nil)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.fx.Run(runCtx) }()
	for i := range 10 {
		insertOne(t, e.store, Remote(TaskCreated, "remote", title(i), now(0)))
		ev := appendOne(t, e.store, Local(TaskCreated, "local", title(i)))
		got := receive(t, ctx, e.rec.once, 1)
		assert.Equal(t, ev.ID, got[0], "the effect of the local append, not of the insert")
	}
	stop()
	require.NoError(t, <-done)
	assert.Equal(t, 10, e.rec.Count("once"))
}

// testEffectsAdmin drives an effect through retries to failed, then
// retries it by hand until it succeeds, and discards another.
func testEffectsAdmin(t *testing.T, open Opener) {
	ctx := testCtx(t)
	var mu sync.Mutex
	failing := map[string]bool{}
	attempts := map[string][]int{}
	e := newEnv(t, open, projector.EffectOptions{Retry: projector.Backoff{Attempts: 3, Initial: time.Millisecond, Max: time.Millisecond}},
		func(h *projector.Handlers) {
			projector.Once(h, TaskRenamed, "mail", func(ctx context.Context, eff projector.Effect, d Task) error {
				mu.Lock()
				defer mu.Unlock()
				attempts[eff.Key] = append(attempts[eff.Key], eff.Attempt)
				if failing[d.Title] {
					return errors.New("smtp down")
				}
				return nil
			})
		})
	mu.Lock()
	failing["x"], failing["y"] = true, true
	mu.Unlock()
	x := appendOne(t, e.store, Local(TaskRenamed, "a", "x"))
	y := appendOne(t, e.store, Local(TaskRenamed, "b", "y"))

	// Drive the retries by hand: each RunDue runs what is due.
	for {
		failed, err := e.fx.List(ctx, projector.EffectFailed)
		require.NoError(t, err)
		if len(failed) == 2 {
			break
		}
		_, err = e.fx.RunDue(ctx)
		require.NoError(t, err)
		require.NoError(t, ctx.Err())
	}
	mu.Lock()
	assert.Equal(t, []int{1, 2, 3}, attempts[x.ID], "attempts counted up to the limit")
	mu.Unlock()
	rec, err := e.fx.Get(ctx, x.ID, "mail")
	require.NoError(t, err)
	assert.Equal(t, projector.EffectFailed, rec.Status)
	assert.Equal(t, 3, rec.Attempts)
	assert.Contains(t, rec.LastError, "smtp down")
	// The recorder's own once handler of the same events succeeded.
	rec, err = e.fx.Get(ctx, x.ID, "record")
	require.NoError(t, err)
	assert.Equal(t, projector.EffectDone, rec.Status)

	// Fix the cause, retry x through a running outbox, discard y.
	mu.Lock()
	failing["x"] = false
	mu.Unlock()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.fx.Run(runCtx) }()
	require.NoError(t, e.fx.Retry(ctx, x.ID, "mail"))
	for {
		rec, err = e.fx.Get(ctx, x.ID, "mail")
		require.NoError(t, err)
		if rec.Status == projector.EffectDone {
			break
		}
		select {
		case <-ctx.Done():
			require.FailNow(t, "retried effect did not run")
		case <-time.After(time.Millisecond):
		}
	}
	stop()
	require.NoError(t, <-done)
	assert.Equal(t, 1, rec.Attempts)
	mu.Lock()
	assert.Equal(t, []int{1, 2, 3, 1}, attempts[x.ID])
	mu.Unlock()

	require.NoError(t, e.fx.Discard(ctx, y.ID, "mail"))
	_, err = e.fx.Get(ctx, y.ID, "mail")
	assert.ErrorIs(t, err, eventstore.ErrNotFound)
	assert.ErrorIs(t, e.fx.Discard(ctx, y.ID, "mail"), eventstore.ErrNotFound)
	assert.ErrorIs(t, e.fx.Retry(ctx, y.ID, "mail"), eventstore.ErrNotFound)
	failed, err := e.fx.List(ctx, projector.EffectFailed)
	require.NoError(t, err)
	assert.Empty(t, failed)
}

// receive takes n values from ch, or fails when ctx ends first.
func receive(t *testing.T, ctx context.Context, ch <-chan string, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for len(out) < n {
		select {
		case v := <-ch:
			out = append(out, v)
		case <-ctx.Done():
			require.FailNow(t, "timed out waiting for effects", "got %d of %d", len(out), n)
		}
	}
	return out
}
