package projectortest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
)

// mixedHistory appends and inserts a history with local, remote, late and
// outdated events over a few streams.
func mixedHistory(t *testing.T, store projector.Store) {
	t.Helper()
	for i := range 30 {
		stream := fmt.Sprintf("task-%d", i%4)
		switch i % 5 {
		case 0:
			appendOne(t, store, Local(TaskCreated, stream, title(i)))
		case 1, 2:
			appendOne(t, store, Local(TaskRenamed, stream, title(i)))
		case 3:
			insertOne(t, store, Remote(TaskRenamed, stream, title(i), now(-time.Hour))) // late: outdated
		case 4:
			insertOne(t, store, Remote(TaskRenamed, stream, title(i), now(time.Minute))) // newest
		}
	}
}

// testRebuildFiresNoOnce checks that neither a rebuild nor a new projector
// replaying the ledger runs a Once handler, and that the events a rebuild
// hands to handlers are all Hydrated.
func testRebuildFiresNoOnce(t *testing.T, open Opener) {
	ctx := testCtx(t)
	var notHydrated []string
	e := newEnv(t, open, projector.EffectOptions{}, func(h *projector.Handlers) {
		for _, typ := range []string{TaskCreated, TaskRenamed} {
			projector.All(h, typ, func(ctx context.Context, tx eventstore.Tx, ev eventstore.Event, d Task) error {
				if !ev.Hydrated {
					notHydrated = append(notHydrated, ev.ID)
				}
				return nil
			})
		}
	})
	mixedHistory(t, e.store)
	ran, err := e.fx.RunDue(ctx)
	require.NoError(t, err)
	onceBefore := e.rec.Count("once")
	require.Equal(t, ran, onceBefore)
	require.Positive(t, onceBefore)

	p := e.projector("replay", projector.Options{})
	_, err = p.CatchUp(ctx)
	require.NoError(t, err)
	notHydrated = nil
	_, err = p.Rebuild(ctx, ResetReadModel(t, e.store))
	require.NoError(t, err)
	assert.Empty(t, notHydrated, "rebuild forces Hydrated")

	ran, err = e.fx.RunDue(ctx)
	require.NoError(t, err)
	assert.Zero(t, ran)
	assert.Equal(t, onceBefore, e.rec.Count("once"), "no once handler ran during replay or rebuild")
	pending, err := e.fx.List(ctx, projector.EffectPending)
	require.NoError(t, err)
	assert.Empty(t, pending)
}

// testRebuildReproducesLive projects a history live (a projector running
// while events arrive) and checks that a rebuild ends with the same read
// model.
func testRebuildReproducesLive(t *testing.T, open Opener) {
	ctx := testCtx(t)
	e := newEnv(t, open, projector.EffectOptions{}, nil)
	p := e.projector("live", projector.Options{BatchSize: 4})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	mixedHistory(t, e.store)
	head, err := e.store.Head(ctx)
	require.NoError(t, err)
	require.NoError(t, p.WaitFor(ctx, head))
	stop()
	require.NoError(t, <-done)

	live := ReadModel(t, e.store)
	require.Len(t, live, 4)
	pos, err := p.Rebuild(ctx, ResetReadModel(t, e.store))
	require.NoError(t, err)
	assert.Equal(t, head, pos)
	assert.Equal(t, live, ReadModel(t, e.store))

	// A rebuild of a reset model from an empty read model gives the same.
	q := e.projector("fresh", projector.Options{})
	_, err = q.Rebuild(ctx, ResetReadModel(t, e.store))
	require.NoError(t, err)
	assert.Equal(t, live, ReadModel(t, e.store))
}

// testVersioned builds version 2 of a read model while version 1 keeps
// following, switches, and checks both versions' contents.
func testVersioned(t *testing.T, open Opener) {
	ctx := testCtx(t)
	e := newEnv(t, open, projector.EffectOptions{}, nil)
	key := func(v int, stream string) string { return fmt.Sprintf("vm/%d/%s", v, stream) }
	opts := projector.VersionedOptions{
		Options: func(v int) projector.Options {
			h := projector.NewHandlers()
			projector.On(h, TaskCreated, func(ctx context.Context, tx eventstore.Tx, ev eventstore.Event, d Task) error {
				val := d.Title
				if v > 1 {
					val = "v2:" + d.Title // the new version's shape differs
				}
				return eventstore.KeyValuesOf(tx).SetState(ctx, key(v, ev.Stream), []byte(val))
			})
			return projector.Options{Handlers: h}
		},
		Reset: func(ctx context.Context, tx eventstore.Tx, v int) error {
			for _, s := range []string{"a", "b", "c"} {
				if err := eventstore.KeyValuesOf(tx).DeleteState(ctx, key(v, s)); err != nil {
					return err
				}
			}
			return nil
		},
	}
	vr, err := projector.NewVersioned("tasks", e.store, opts)
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- vr.Run(runCtx) }()

	appendOne(t, e.store, Local(TaskCreated, "a", "one"))
	last := appendOne(t, e.store, Local(TaskCreated, "b", "two"))
	p1, err := vr.Projector(1)
	require.NoError(t, err)
	waitCheckpoint(t, e.store, p1.Name(), last.Position)

	v, err := vr.Rebuild(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, v)
	active, err := vr.Active(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, active)
	val, err := e.store.State(ctx, key(2, "b"))
	require.NoError(t, err)
	assert.Equal(t, "v2:two", string(val))

	// Run moved on to version 2, which follows new events.
	last = appendOne(t, e.store, Local(TaskCreated, "c", "three"))
	waitCheckpoint(t, e.store, vr.VersionName(2), last.Position)
	val, err = e.store.State(ctx, key(2, "c"))
	require.NoError(t, err)
	assert.Equal(t, "v2:three", string(val))

	stop()
	require.NoError(t, <-done)
	require.NoError(t, vr.Drop(ctx, 1))
	_, err = e.store.State(ctx, key(1, "a"))
	assert.ErrorIs(t, err, eventstore.ErrNotFound)
	assert.Error(t, vr.Drop(ctx, 2), "the active version cannot be dropped")
}

// waitCheckpoint waits until the stored checkpoint of name reaches pos,
// waking on every ledger commit and re-checking on a short tick (the
// checkpoint write is not a ledger commit). It bounds the wait by the
// test's context: a failure guard, not a timing assertion.
func waitCheckpoint(t *testing.T, store projector.Store, name string, pos int64) {
	t.Helper()
	ctx := testCtx(t)
	for {
		cp, err := store.Checkpoint(ctx, name)
		require.NoError(t, err)
		if cp >= pos {
			return
		}
		select {
		case <-ctx.Done():
			require.FailNow(t, "checkpoint not reached", "%s at %d, want %d", name, cp, pos)
		case <-time.After(2 * time.Millisecond):
		}
	}
}
