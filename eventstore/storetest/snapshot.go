package storetest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

var snapshotChecks = []check{
	{"SaveLoadReplaceDelete", testSnapshotCRUD},
	{"InvalidatedByLateInsert", testSnapshotLateInsert},
	{"InvalidatedByLateAppend", testSnapshotLateAppend},
	{"InvalidatedAcrossManyStreams", testSnapshotManyStreams},
}

func testSnapshotCRUD(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	_, err := s.LoadSnapshot(ctx, "r", "s")
	require.ErrorIs(t, err, eventstore.ErrNotFound)

	ev := appendTo(t, s, "s", local(TypeNote, 1), local(TypeNote, 2))
	snap := eventstore.Snapshot{Name: "r", Stream: "s", Cursor: eventstore.CursorOf(ev[0]), Version: 1, State: []byte(`{"n":1}`)}
	require.NoError(t, s.SaveSnapshot(ctx, snap))
	got, err := s.LoadSnapshot(ctx, "r", "s")
	require.NoError(t, err)
	assert.Equal(t, snap, got)

	// Replace.
	snap2 := eventstore.Snapshot{Name: "r", Stream: "s", Cursor: eventstore.CursorOf(ev[1]), Version: 2, State: []byte(`{"n":2}`)}
	require.NoError(t, s.SaveSnapshot(ctx, snap2))
	got, err = s.LoadSnapshot(ctx, "r", "s")
	require.NoError(t, err)
	assert.Equal(t, snap2, got)

	// Other names and streams are separate.
	other := eventstore.Snapshot{Name: "q", Stream: "s", Cursor: eventstore.CursorOf(ev[1]), Version: 2, State: []byte(`{}`)}
	elsewhere := eventstore.Snapshot{Name: "r", Stream: "t", Cursor: eventstore.CursorOf(ev[1]), Version: 9, State: []byte(`[]`)}
	require.NoError(t, s.SaveSnapshot(ctx, other))
	require.NoError(t, s.SaveSnapshot(ctx, elsewhere))

	require.NoError(t, s.DeleteSnapshot(ctx, "r", "s"))
	_, err = s.LoadSnapshot(ctx, "r", "s")
	assert.ErrorIs(t, err, eventstore.ErrNotFound)
	_, err = s.LoadSnapshot(ctx, "q", "s")
	assert.NoError(t, err)
	require.NoError(t, s.DeleteSnapshot(ctx, "r", "s"), "deleting a missing snapshot is fine")

	// Empty name: every snapshot of the stream.
	require.NoError(t, s.SaveSnapshot(ctx, snap))
	require.NoError(t, s.DeleteSnapshot(ctx, "", "s"))
	for _, name := range []string{"r", "q"} {
		_, err = s.LoadSnapshot(ctx, name, "s")
		assert.ErrorIs(t, err, eventstore.ErrNotFound, name)
	}
	got, err = s.LoadSnapshot(ctx, "r", "t")
	require.NoError(t, err)
	assert.Equal(t, elsewhere, got)
}

// invalidationFixture stores events at 10, 30, 50 in stream s and snapshots
// "early" (cursor at 10) and "late" (cursor at 50) of s plus "late" of t.
func invalidationFixture(t *testing.T, s store) (b eventstore.Timestamp, evs []eventstore.Event) {
	ctx := t.Context()
	b = base()
	evs = []eventstore.Event{remote("s", TypeNote, at(b, 10)), remote("s", TypeNote, at(b, 30)), remote("s", TypeNote, at(b, 50))}
	insert(t, s, evs...)
	tEv := remote("t", TypeNote, at(b, 50))
	insert(t, s, tEv)
	for _, snap := range []eventstore.Snapshot{
		{Name: "early", Stream: "s", Cursor: eventstore.CursorOf(evs[0]), Version: 1, State: []byte(`1`)},
		{Name: "late", Stream: "s", Cursor: eventstore.CursorOf(evs[2]), Version: 3, State: []byte(`3`)},
		{Name: "late", Stream: "t", Cursor: eventstore.CursorOf(tEv), Version: 1, State: []byte(`1`)},
	} {
		require.NoError(t, s.SaveSnapshot(ctx, snap))
	}
	return b, evs
}

func snapshotExists(t *testing.T, s store, name, stream string) bool {
	t.Helper()
	_, err := s.LoadSnapshot(t.Context(), name, stream)
	if err != nil {
		require.ErrorIs(t, err, eventstore.ErrNotFound)
		return false
	}
	return true
}

func testSnapshotLateInsert(t *testing.T, h *harness) {
	s := h.store(t)
	b, _ := invalidationFixture(t, s)

	// After every cursor: nothing is invalidated.
	insert(t, s, remote("s", TypeRenamed, at(b, 60)))
	assert.True(t, snapshotExists(t, s, "early", "s"))
	assert.True(t, snapshotExists(t, s, "late", "s"))

	// A late event at 20 sorts before "late" (50) but after "early" (10).
	insert(t, s, remote("s", TypeRenamed, at(b, 20)))
	assert.True(t, snapshotExists(t, s, "early", "s"), "cursor before the late event survives")
	assert.False(t, snapshotExists(t, s, "late", "s"), "cursor past the late event is invalidated")
	assert.True(t, snapshotExists(t, s, "late", "t"), "other streams untouched")

	// A duplicate of an old event invalidates nothing.
	require.NoError(t, s.SaveSnapshot(t.Context(), eventstore.Snapshot{Name: "late", Stream: "s", Cursor: eventstore.Cursor{Created: at(b, 60)}}))
	all := collect(t, s.ReadStream(t.Context(), "s", eventstore.ReadOptions{}))
	insert(t, s, all[0])
	assert.True(t, snapshotExists(t, s, "late", "s"))
}

func testSnapshotLateAppend(t *testing.T, h *harness) {
	s := h.store(t)
	b, _ := invalidationFixture(t, s)
	// A local event with an explicit, early Created (e.g. a backdated import).
	appendTo(t, s, "s", eventstore.Event{Type: TypeNote, Created: at(b, 5)})
	assert.False(t, snapshotExists(t, s, "early", "s"))
	assert.False(t, snapshotExists(t, s, "late", "s"))
	assert.True(t, snapshotExists(t, s, "late", "t"))

	// An ordinary append sorts after every snapshot: nothing is invalidated.
	require.NoError(t, s.SaveSnapshot(t.Context(), eventstore.Snapshot{Name: "late", Stream: "s", Cursor: eventstore.Cursor{Created: at(b, 50)}}))
	appendTo(t, s, "s", local(TypeNote, 1))
	assert.True(t, snapshotExists(t, s, "late", "s"))
}

// testSnapshotManyStreams: one Insert of late events over 85 streams (more
// than a backend's biggest multi-row statement holds, and not a multiple
// of it) invalidates exactly the snapshots past each stream's late event,
// and counts every stream's new event.
func testSnapshotManyStreams(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	b := base()
	const n = 85
	stream := func(i int) string { return fmt.Sprintf("m%02d", i) }
	var first, late []eventstore.Event
	for i := range n + 1 { // stream n gets no late event
		first = append(first, remote(stream(i), TypeNote, at(b, 30+i)))
	}
	insert(t, s, first...)
	for i, e := range first {
		for _, snap := range []eventstore.Snapshot{
			{Name: "before", Stream: e.Stream, Cursor: eventstore.Cursor{Created: at(b, 5)}, Version: 1, State: []byte(`1`)},
			{Name: "after", Stream: e.Stream, Cursor: eventstore.CursorOf(e), Version: 1, State: []byte(`1`)},
		} {
			require.NoError(t, s.SaveSnapshot(ctx, snap), "stream %d", i)
		}
		if i < n {
			// Two types per stream, so the counts span two pairs.
			late = append(late, remote(e.Stream, TypeNote, at(b, 10)), remote(e.Stream, TypeRenamed, at(b, 20+i)))
		}
	}
	insert(t, s, late...)
	for i := range n + 1 {
		want := int64(3)
		if i == n {
			want = 1
		}
		assert.Equal(t, want, version(t, s, stream(i)), "stream %d", i)
		assert.True(t, snapshotExists(t, s, "before", stream(i)), "stream %d: a cursor before the late events survives", i)
		assert.Equal(t, i == n, snapshotExists(t, s, "after", stream(i)), "stream %d: a cursor past a late event is invalidated", i)
	}
	got := collect(t, s.ReadStream(ctx, stream(7), eventstore.ReadOptions{Types: []string{TypeRenamed}}))
	require.Len(t, got, 1)
	assert.Equal(t, late[15].ID, got[0].ID)
}
