package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

var tenantChecks = []check{
	{"Isolation", testTenantIsolation},
	{"SameIDsInBothTenants", testTenantSameIDs},
}

func (h *harness) tenants(t *testing.T) (store, store) {
	t.Helper()
	if h.cfg.tenants == nil {
		t.Skip("backend runs without tenants (no storetest.WithTenants)")
	}
	a, b := h.cfg.tenants(t, Config())
	return capable[store](t, a), capable[store](t, b)
}

// testTenantIsolation writes everything a store holds into tenant a and
// checks that tenant b sees none of it, and can use the same names freely.
func testTenantIsolation(t *testing.T, h *harness) {
	a, b := h.tenants(t)
	ctx := t.Context()
	evs := appendTo(t, a, "s", local(TypeNote, 1), local(TypeNote, 2))
	theirs := remote("r", TypeNote, base())
	insert(t, a, theirs)
	require.NoError(t, a.AddRelations(ctx, "k", "s"))
	require.NoError(t, a.SaveSnapshot(ctx, eventstore.Snapshot{Name: "n", Stream: "s", Cursor: eventstore.CursorOf(evs[1]), Version: 2, State: []byte(`1`)}))
	require.NoError(t, a.SetCheckpoint(ctx, "p", 3))
	require.NoError(t, a.SetState(ctx, "key", []byte("a")))

	// b sees nothing of a.
	assertEmpty(t, b)
	assert.Zero(t, version(t, b, "s"))
	assert.Empty(t, collect(t, b.ReadStream(ctx, "s", eventstore.ReadOptions{})))
	assert.Empty(t, collect(t, b.ReadStreams(ctx, []string{"s", "r"}, eventstore.ReadOptions{})))
	st, err := b.Status(ctx, evs[0])
	require.NoError(t, err)
	assert.Equal(t, eventstore.EventStatus{}, st)
	keys, err := b.StreamsByKeys(ctx, "k")
	require.NoError(t, err)
	assert.Empty(t, keys)
	_, err = b.LoadSnapshot(ctx, "n", "s")
	assert.ErrorIs(t, err, eventstore.ErrNotFound)
	cp, err := b.Checkpoint(ctx, "p")
	require.NoError(t, err)
	assert.Zero(t, cp)
	_, err = b.State(ctx, "key")
	assert.ErrorIs(t, err, eventstore.ErrNotFound)
	kvs, err := b.ListState(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, kvs)

	// b writes under the same names; a is unaffected.
	bevs, err := b.Append(ctx, eventstore.Write{Stream: "s", Expect: eventstore.NoStream, Events: []eventstore.Event{local(TypeNote, 9)}})
	require.NoError(t, err, "a's stream does not exist in b")
	assert.Equal(t, int64(1), bevs[0].Position, "positions are per tenant")
	require.NoError(t, b.AddRelations(ctx, "k", "other"))
	require.NoError(t, b.RemoveRelations(ctx, "k"))
	require.NoError(t, b.DeleteSnapshot(ctx, "", "s"))
	require.NoError(t, b.SetCheckpoint(ctx, "p", 100))
	require.NoError(t, b.SetState(ctx, "key", []byte("b")))
	require.NoError(t, b.DeleteState(ctx, "key"))

	assert.Equal(t, int64(2), version(t, a, "s"))
	assert.Equal(t, int64(3), head(t, a))
	assert.Equal(t, append(ids(evs), theirs.ID), ids(collect(t, a.ReadAll(ctx, 0, 0))))
	keys, err = a.StreamsByKeys(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, []string{"s"}, keys)
	assert.True(t, snapshotExists(t, a, "n", "s"))
	cp, err = a.Checkpoint(ctx, "p")
	require.NoError(t, err)
	assert.Equal(t, int64(3), cp)
	v, err := a.State(ctx, "key")
	require.NoError(t, err)
	assert.Equal(t, []byte("a"), v)
	streams, err := a.ListStreams(ctx, eventstore.ListOptions{})
	require.NoError(t, err)
	assert.Equal(t, []eventstore.StreamInfo{si("r", 1), si("s", 2)}, streams)
}

// testTenantSameIDs inserts into b an event whose ID a already holds: for b
// it is new. A hub must not reveal (as a "duplicate") or refuse an ID
// because another tenant has it.
func testTenantSameIDs(t *testing.T, h *harness) {
	a, b := h.tenants(t)
	e := remote("s", TypeNote, base())
	insert(t, a, e)
	res := insert(t, b, e)
	assert.True(t, res[0].Inserted, "an ID stored in tenant a is new to tenant b")
	assert.Equal(t, int64(1), res[0].Event.Position)
	mine := appendTo(t, a, "m", local(TypeNote, 1))[0]
	_, err := b.Append(t.Context(), eventstore.Write{Stream: "m", Events: []eventstore.Event{{ID: mine.ID, Type: TypeNote}}})
	require.NoError(t, err, "a caller-chosen ID used in tenant a is free in tenant b")
	assert.Equal(t, int64(2), head(t, b))
	assert.Equal(t, int64(2), head(t, a))
}
