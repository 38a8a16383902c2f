package postgres

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/storetest"
)

func TestTenantIsolation(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, testSchema(t), Options{})
	a := openStore(t, db, "tenant-a", eventstore.Config{})
	b := openStore(t, db, "tenant-b", eventstore.Config{})

	out, err := a.Append(ctx, eventstore.Write{Stream: "shared", Events: []eventstore.Event{ev("t", `{"secret":1}`), ev("t", `{}`)}})
	require.NoError(t, err)
	require.NoError(t, a.AddRelations(ctx, "k", "shared"))
	require.NoError(t, a.SaveSnapshot(ctx, eventstore.Snapshot{Name: "r", Stream: "shared", Cursor: eventstore.CursorOf(out[1]), State: []byte("s")}))
	require.NoError(t, a.SetCheckpoint(ctx, "p", 2))
	require.NoError(t, a.SetState(ctx, "k", []byte("v")))

	// B sees nothing of A.
	assert.Empty(t, collect(t, b.ReadAll(ctx, 0, 0)))
	assert.Empty(t, collect(t, b.ReadStream(ctx, "shared", eventstore.ReadOptions{})))
	assert.Empty(t, collect(t, b.ReadStreams(ctx, []string{"shared"}, eventstore.ReadOptions{})))
	head, err := b.Head(ctx)
	require.NoError(t, err)
	assert.Zero(t, head)
	v, err := b.StreamVersion(ctx, "shared")
	require.NoError(t, err)
	assert.Zero(t, v)
	streams, err := b.ListStreams(ctx, eventstore.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, streams)
	rel, err := b.StreamsByKeys(ctx, "k")
	require.NoError(t, err)
	assert.Empty(t, rel)
	_, err = b.LoadSnapshot(ctx, "r", "shared")
	require.ErrorIs(t, err, eventstore.ErrNotFound)
	cp, err := b.Checkpoint(ctx, "p")
	require.NoError(t, err)
	assert.Zero(t, cp)
	_, err = b.State(ctx, "k")
	require.ErrorIs(t, err, eventstore.ErrNotFound)
	st, err := b.Status(ctx, out[0])
	require.NoError(t, err)
	assert.False(t, st.Exists)

	// B may store an event with the same ID: it is B's copy, at B's
	// position 1, and A's copy is untouched.
	res, err := b.Insert(ctx, out[0])
	require.NoError(t, err)
	assert.Equal(t, []storetest.Outcome{{ID: out[0].ID, Inserted: true, Position: 1}}, storetest.Outcomes(res))
	_, err = b.Append(ctx, eventstore.Write{Stream: "shared", Expect: eventstore.Exact(1), Events: []eventstore.Event{ev("t", `{}`)}})
	require.NoError(t, err)
	require.NoError(t, b.DeleteSnapshot(ctx, "", "shared"))
	require.NoError(t, b.RemoveRelations(ctx, "k"))
	require.NoError(t, b.DeleteState(ctx, "k"))

	got := collect(t, a.ReadAll(ctx, 0, 0))
	require.Len(t, got, 2)
	assert.Equal(t, out[0].ID, got[0].ID)
	assert.Equal(t, int64(1), got[0].HubPosition)
	v, err = a.StreamVersion(ctx, "shared")
	require.NoError(t, err)
	assert.Equal(t, int64(2), v)
	_, err = a.LoadSnapshot(ctx, "r", "shared")
	require.NoError(t, err)
	rel, err = a.StreamsByKeys(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, []string{"shared"}, rel)
	val, err := a.State(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, []byte("v"), val)
	head, err = a.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), head)
}
