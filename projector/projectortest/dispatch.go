package projectortest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
)

// testMatrix produces one event of each (hydrated, outdated) combination
// through the store itself, projects them and runs the outbox, and checks
// exactly which of the once, on and all handlers ran for each.
func testMatrix(t *testing.T, open Opener) {
	ctx := testCtx(t)
	e := newEnv(t, open, projector.EffectOptions{}, nil)
	s := e.store

	local := appendOne(t, s, Local(TaskCreated, "s1", "local"))
	remote := insertOne(t, s, Remote(TaskCreated, "s2", "remote", now(-time.Second)))

	newer := Local(TaskRenamed, "s3", "newer")
	newer.Created = now(time.Minute)
	appendOne(t, s, newer)
	older := Local(TaskRenamed, "s3", "older")
	older.Created = now(-time.Minute)
	localOutdated := appendOne(t, s, older)

	newer4 := Local(TaskRenamed, "s4", "newer")
	newer4.Created = now(time.Minute)
	appendOne(t, s, newer4)
	remoteOutdated := insertOne(t, s, Remote(TaskRenamed, "s4", "older", now(-time.Minute)))

	p := e.projector("matrix", projector.Options{})
	_, err := p.CatchUp(ctx)
	require.NoError(t, err)
	_, err = e.fx.RunDue(ctx)
	require.NoError(t, err)

	flags := map[string][2]bool{}
	for _, ev := range ledger(t, s) {
		flags[ev.ID] = [2]bool{ev.Hydrated, ev.Outdated}
	}
	cases := []struct {
		name               string
		id                 string
		hydrated, outdated bool
		want               []string
	}{
		{"local", local.ID, false, false, []string{"once", "on", "all"}},
		{"hydrated", remote.Event.ID, true, false, []string{"on", "all"}},
		{"outdated", localOutdated.ID, false, true, []string{"all"}},
		{"hydrated+outdated", remoteOutdated.Event.ID, true, true, []string{"all"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, [2]bool{tc.hydrated, tc.outdated}, flags[tc.id], "stored flags (hydrated, outdated)")
			assert.ElementsMatch(t, tc.want, e.rec.Calls(tc.id))
		})
	}
}

// testInsertRecordsNoEffects checks that events arriving through Insert
// (sync) never record pending effects, while local appends do, in the same
// transaction.
func testInsertRecordsNoEffects(t *testing.T, open Opener) {
	ctx := testCtx(t)
	e := newEnv(t, open, projector.EffectOptions{}, nil)
	for i := range 5 {
		insertOne(t, e.store, Remote(TaskCreated, "remote", title(i), now(0)))
	}
	pending, err := e.fx.List(ctx, projector.EffectPending)
	require.NoError(t, err)
	assert.Empty(t, pending)

	ev := appendOne(t, e.store, Local(TaskCreated, "local", "x"))
	pending, err = e.fx.List(ctx, projector.EffectPending)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	assert.Equal(t, ev.ID, pending[0].Event.ID)
	assert.Equal(t, "record", pending[0].Handler)
	assert.Equal(t, ev.Position, pending[0].Event.Position)

	// A failed append records nothing.
	_, err = e.store.Append(ctx, eventstore.Write{Stream: "local", Expect: eventstore.NoStream,
		Events: []eventstore.Event{Local(TaskCreated, "local", "y")}})
	require.ErrorIs(t, err, eventstore.ErrConcurrency)
	pending, err = e.fx.List(ctx, projector.EffectPending)
	require.NoError(t, err)
	assert.Len(t, pending, 1)

	n, err := e.fx.RunDue(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, 1, e.rec.Count("once"))
}

// testLateOutdated checks that an event arriving late, older than the
// event of the same stream and type already stored, does not overwrite the
// read model the newer event wrote, whether it arrives before or after the
// newer one was projected.
func testLateOutdated(t *testing.T, open Opener) {
	ctx := testCtx(t)
	e := newEnv(t, open, projector.EffectOptions{}, nil)
	p := e.projector("late", projector.Options{})

	appendOne(t, e.store, Local(TaskCreated, "t1", "created"))
	appendOne(t, e.store, Local(TaskRenamed, "t1", "newest"))
	_, err := p.CatchUp(ctx)
	require.NoError(t, err)
	require.Equal(t, "newest", ReadModel(t, e.store)["t1"])

	res := insertOne(t, e.store, Remote(TaskRenamed, "t1", "stale", now(-time.Hour)))
	require.True(t, res.Inserted)
	require.True(t, res.Event.Outdated)
	_, err = p.CatchUp(ctx)
	require.NoError(t, err)
	assert.Equal(t, "newest", ReadModel(t, e.store)["t1"])
	assert.Equal(t, []string{"all"}, e.rec.Calls(res.Event.ID), "only the all handler sees the stale event")

	// A newer remote rename still wins.
	res = insertOne(t, e.store, Remote(TaskRenamed, "t1", "remote newest", now(time.Second)))
	require.False(t, res.Event.Outdated)
	_, err = p.CatchUp(ctx)
	require.NoError(t, err)
	assert.Equal(t, "remote newest", ReadModel(t, e.store)["t1"])
}
