package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil"
)

// TypeFuture is a type the suite's Registry does not know: what a newer
// app version writes. The Unknown checks register it to revive its events.
const TypeFuture = "test:future"

// unknownChecks run on stores that keep events their Registry refuses
// (eventstore.Reviver: the edge stores).
var unknownChecks = []check{
	{"KeptFlagged", testUnknownKept},
	{"Revive", testRevive},
	{"ReviveCommutative", testReviveCommutative},
}

// reviver opens a fresh edge store with its own Registry, returned to be
// extended.
func (h *harness) reviver(t *testing.T) (store, eventstore.Reviver, *eventstore.Registry) {
	t.Helper()
	cfg := Config()
	s := h.open(t, cfg)
	return s, capable[eventstore.Reviver](t, s), cfg.Registry
}

// An event of an unknown type, or with a payload the Registry refuses, is
// stored flagged by Insert, with the events around it; it counts in its
// stream's version and is read back flagged. Append still refuses it.
func testUnknownKept(t *testing.T, h *harness) {
	ctx := t.Context()
	s, _, _ := h.reviver(t)
	b := base()
	badPayload := remote("s", TypeCreated, at(b, 2))
	badPayload.Data = []byte(`{"title":""}`)
	res := insert(t, s, remote("s", TypeCreated, b), remote("s", TypeFuture, at(b, 1)), badPayload, remote("s", TypeNote, at(b, 3)))
	flags := []bool{false, true, true, false}
	for i, r := range res {
		assert.True(t, r.Inserted)
		assert.Equal(t, flags[i], r.Event.Unknown, "insert result %d", i)
	}
	var got []bool
	for e, err := range s.ReadStream(ctx, "s", eventstore.ReadOptions{}) {
		require.NoError(t, err)
		got = append(got, e.Unknown)
	}
	assert.Equal(t, flags, got, "ReadStream")
	all := testutil.Collect(t, s.ReadAll(ctx, 0, 0))
	require.Len(t, all, 4)
	assert.True(t, all[1].Unknown)
	assert.Zero(t, all[1].Revived)
	v, err := s.StreamVersion(ctx, "s")
	require.NoError(t, err)
	assert.EqualValues(t, 4, v)

	_, err = s.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{{Type: TypeFuture}}})
	assert.ErrorIs(t, err, eventstore.ErrUnknownEventType)
}

// Revive accepts the Unknown events the Registry now knows, numbers them in
// Position order, deletes their streams' snapshots, and leaves the others
// flagged; ReadRevived yields them in revival order.
func testRevive(t *testing.T, h *harness) {
	ctx := t.Context()
	s, rv, reg := h.reviver(t)
	b := base()
	badPayload := remote("p", TypeCreated, b)
	badPayload.Data = []byte(`{"title":""}`)
	insert(t, s, remote("a", TypeFuture, b), badPayload, remote("b", TypeFuture, at(b, 1)))
	require.NoError(t, s.SaveSnapshot(ctx, eventstore.Snapshot{Name: "n", Stream: "a", Cursor: eventstore.Cursor{Created: at(b, 5), ID: "z"}, Version: 1, State: []byte(`{}`)}))

	n, err := rv.Revive(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing known yet")

	require.NoError(t, reg.Register(eventstore.EventType{Name: TypeFuture}))
	n, err = rv.Revive(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	all := testutil.Collect(t, s.ReadAll(ctx, 0, 0))
	require.Len(t, all, 3)
	assert.False(t, all[0].Unknown)
	assert.EqualValues(t, 1, all[0].Revived)
	assert.True(t, all[1].Unknown, "a payload still refused stays unknown")
	assert.EqualValues(t, 2, all[2].Revived)
	_, err = s.LoadSnapshot(ctx, "n", "a")
	assert.ErrorIs(t, err, eventstore.ErrNotFound, "a fold that skipped the event is stale")

	revived := testutil.Collect(t, rv.ReadRevived(ctx, 0, 0))
	require.Len(t, revived, 2)
	assert.Equal(t, all[0].ID, revived[0].ID)
	assert.Equal(t, all[2].ID, revived[1].ID)
	assert.Len(t, testutil.Collect(t, rv.ReadRevived(ctx, 1, 0)), 1)
	assert.Len(t, testutil.Collect(t, rv.ReadRevived(ctx, 0, 1)), 1)

	n, err = rv.Revive(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "a second call revives nothing")
}

// An Unknown type revived as Commutative has the Outdated flags the store
// computed last-writer-wins cleared.
func testReviveCommutative(t *testing.T, h *harness) {
	ctx := t.Context()
	s, rv, reg := h.reviver(t)
	b := base()
	res := insert(t, s, remote("c", TypeFuture, at(b, 5)), remote("c", TypeFuture, b))
	require.True(t, res[1].Event.Outdated, "last-writer-wins while unknown")
	require.NoError(t, reg.Register(eventstore.EventType{Name: TypeFuture, Commutative: true}))
	n, err := rv.Revive(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	for _, e := range testutil.Collect(t, s.ReadAll(ctx, 0, 0)) {
		assert.False(t, e.Outdated)
		assert.False(t, e.Unknown)
	}
}
