package storetest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil"
)

// evictChecks run on edge stores (their Tx is an eventstore.Evicter).
var evictChecks = []check{
	{"WholeStreams", testEvictWholeStreams},
	{"Unpushed", testEvictUnpushed},
	{"LastEvents", testEvictLastEvents},
	{"RollsBack", testEvictRollsBack},
	{"KeepsRevivalNumbers", testEvictKeepsRevivalNumbers},
}

// evict runs Evicter.Evict in its own Update.
func evict(t *testing.T, s edge, streams ...string) (eventstore.Evicted, error) {
	t.Helper()
	var out eventstore.Evicted
	err := s.Update(t.Context(), func(tx eventstore.Tx) error {
		var err error
		out, err = capable[eventstore.Evicter](t, tx).Evict(t.Context(), streams...)
		return err
	})
	return out, err
}

// testEvictWholeStreams evicts a stream holding acknowledged local events,
// remote ones and a rejected one, with a snapshot and a relation: it reads
// as empty with version 0, is not listed, its snapshot and relation are
// gone and the ledger skips its events; the head stays; another stream is
// untouched; its events inserted again (a backfill) are new.
func testEvictWholeStreams(t *testing.T, h *harness) {
	s := outbox(t, h.store(t))
	ctx := t.Context()
	b := base()
	kept := appendTo(t, s, "kept", local(TypeNote, 1))
	mine := appendTo(t, s, "gone", local(TypeCreated, 2), local(TypeNote, 3), local(TypeNote, 4))
	theirs := remote("gone", TypeNote, at(b, 5))
	insert(t, s, theirs)
	require.NoError(t, s.SetHubPositions(ctx, eventstore.HubAck{ID: mine[0].ID, HubPosition: 1}, eventstore.HubAck{ID: mine[1].ID, HubPosition: 2}))
	require.NoError(t, s.Reject(ctx, mine[2].ID))
	later := appendTo(t, s, "kept", local(TypeNote, 6))
	for _, stream := range []string{"gone", "kept"} {
		require.NoError(t, s.SaveSnapshot(ctx, eventstore.Snapshot{Name: "r", Stream: stream, Cursor: eventstore.CursorOf(kept[0]), Version: 1, State: []byte(`{}`)}))
	}
	require.NoError(t, s.AddRelations(ctx, "k", "gone", "kept"))
	before := head(t, s)

	got, err := evict(t, s, "gone", "never-held")
	require.NoError(t, err)
	assert.Equal(t, eventstore.Evicted{Events: 4, First: mine[0].Position}, got)

	assert.Empty(t, streamIDs(t, s, "gone", eventstore.ReadOptions{}))
	assert.Zero(t, version(t, s, "gone"))
	assert.Equal(t, []eventstore.StreamInfo{si("kept", 2)}, listStreams(t, s))
	_, err = s.LoadSnapshot(ctx, "r", "gone")
	assert.ErrorIs(t, err, eventstore.ErrNotFound, "the snapshot goes with the stream")
	_, err = s.LoadSnapshot(ctx, "r", "kept")
	assert.NoError(t, err, "another stream's snapshot stays")
	related, err := s.StreamsByKeys(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, []string{"kept"}, related)
	assert.Equal(t, []string{kept[0].ID, later[0].ID}, testutil.IDs(testutil.Collect(t, s.ReadAll(ctx, 0, 0))))
	assert.Equal(t, []string{later[0].ID}, testutil.IDs(testutil.Collect(t, s.ReadAll(ctx, kept[0].Position, 1))))
	assert.Equal(t, []string{kept[0].ID, later[0].ID}, testutil.IDs(testutil.Collect(t, s.ReadPending(ctx, 0, 0))))
	assert.Equal(t, []string{kept[0].ID, later[0].ID}, streamIDs(t, s, "kept", eventstore.ReadOptions{}))
	assert.Equal(t, before, head(t, s), "the head does not go down")
	st, err := s.Status(ctx, theirs)
	require.NoError(t, err)
	assert.False(t, st.Exists)

	// A backfill brings the stream back: its events are new again.
	back := mine[0]
	back.HubPosition = 1
	res := insert(t, s, back, theirs)
	assert.True(t, res[0].Inserted)
	assert.True(t, res[1].Inserted)
	assert.Greater(t, res[0].Event.Position, before, "positions are not given again")
	assert.Equal(t, int64(2), version(t, s, "gone"))
	assert.Equal(t, []string{theirs.ID, back.ID}, streamIDs(t, s, "gone", eventstore.ReadOptions{}), "theirs was created first")
}

// testEvictUnpushed: a stream holding a local event the hub has not
// acknowledged is refused with an *UnpushedError naming it, and nothing
// is evicted; once acknowledged it is evicted.
func testEvictUnpushed(t *testing.T, h *harness) {
	s := outbox(t, h.store(t))
	ctx := t.Context()
	insert(t, s, remote("a", TypeNote, at(base(), 1)))
	pending := appendTo(t, s, "b", local(TypeNote, 1))
	insert(t, s, remote("c", TypeNote, at(base(), 2)))

	_, err := evict(t, s, "a", "b", "c")
	require.ErrorIs(t, err, eventstore.ErrUnpushed)
	var uerr *eventstore.UnpushedError
	require.ErrorAs(t, err, &uerr)
	assert.Equal(t, []string{"b"}, uerr.Streams)
	assert.Equal(t, []eventstore.StreamInfo{si("a", 1), si("b", 1), si("c", 1)}, listStreams(t, s), "nothing evicted")
	assert.Len(t, testutil.Collect(t, s.ReadAll(ctx, 0, 0)), 3)

	require.NoError(t, s.SetHubPositions(ctx, eventstore.HubAck{ID: pending[0].ID, HubPosition: 9}))
	got, err := evict(t, s, "a", "b")
	require.NoError(t, err)
	assert.Equal(t, 2, got.Events)
	assert.Equal(t, int64(1), got.First)
	assert.Equal(t, []eventstore.StreamInfo{si("c", 1)}, listStreams(t, s))
	assert.Empty(t, testutil.Collect(t, s.ReadPending(ctx, 0, 0)))
}

// testEvictLastEvents evicts the stream holding the ledger's last events:
// the head stays where it was, and the next events are stored after it, so
// a checkpoint or cursor past the evicted events misses none.
func testEvictLastEvents(t *testing.T, h *harness) {
	s := outbox(t, h.store(t))
	ctx := t.Context()
	appendTo(t, s, "a", local(TypeNote, 1))
	insert(t, s, remote("z", TypeNote, at(base(), 1)), remote("z", TypeNote, at(base(), 2)))
	require.Equal(t, int64(3), head(t, s))
	_, err := evict(t, s, "z")
	require.NoError(t, err)
	assert.Equal(t, int64(3), head(t, s))
	next := appendTo(t, s, "a", local(TypeNote, 2))
	assert.Equal(t, int64(4), next[0].Position)
	res := insert(t, s, remote("y", TypeNote, at(base(), 3)))
	assert.Equal(t, int64(5), res[0].Event.Position)
	assert.Equal(t, []string{next[0].ID}, testutil.IDs(testutil.Collect(t, s.ReadAll(ctx, 3, 1))))
	assert.Equal(t, int64(5), head(t, s))

	// Evicting everything leaves an empty ledger with its head.
	mine := testutil.Collect(t, s.ReadPending(ctx, 0, 0))
	require.Len(t, mine, 2)
	require.NoError(t, s.SetHubPositions(ctx, eventstore.HubAck{ID: mine[0].ID, HubPosition: 1}, eventstore.HubAck{ID: mine[1].ID, HubPosition: 2}))
	_, err = evict(t, s, "a", "y")
	require.NoError(t, err)
	assert.Empty(t, testutil.Collect(t, s.ReadAll(ctx, 0, 0)))
	assert.Equal(t, int64(5), head(t, s))
	assert.Equal(t, int64(6), appendTo(t, s, "b", local(TypeNote, 3))[0].Position)
}

// testEvictRollsBack: an eviction in an Update that fails leaves the
// store as it was.
func testEvictRollsBack(t *testing.T, h *harness) {
	s := outbox(t, h.store(t))
	ctx := t.Context()
	e := remote("a", TypeNote, at(base(), 1))
	insert(t, s, e)
	require.NoError(t, s.SaveSnapshot(ctx, eventstore.Snapshot{Name: "r", Stream: "a", Cursor: eventstore.CursorOf(e), Version: 1, State: []byte(`{}`)}))
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx eventstore.Tx) error {
		got, err := capable[eventstore.Evicter](t, tx).Evict(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, 1, got.Events)
		v, err := tx.StreamVersion(ctx, "a")
		require.NoError(t, err)
		assert.Zero(t, v, "evicted inside the transaction")
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, []string{e.ID}, streamIDs(t, s, "a", eventstore.ReadOptions{}))
	assert.Equal(t, int64(1), version(t, s, "a"))
	_, err = s.LoadSnapshot(ctx, "r", "a")
	assert.NoError(t, err)
	st, err := s.Status(ctx, e)
	require.NoError(t, err)
	assert.True(t, st.Exists)
}

// testEvictKeepsRevivalNumbers (review of the eviction change): revival
// numbers are a cursor projectors keep (projector/revive.go keeps the
// greatest one it has handled). Evicting the stream holding the greatest
// revival number must not let a later Revive give that number again, or
// every projector that saw the evicted event skips the newly revived one
// for good. It needs an eventstore.Reviver, which edge stores are.
func testEvictKeepsRevivalNumbers(t *testing.T, h *harness) {
	ctx := t.Context()
	s, rv, reg := h.reviver(t)
	b := base()
	ev := func(stream, typ string, ms int) eventstore.Event {
		return eventstore.Event{ID: eventstore.NewID(), Stream: stream, Type: typ, Origin: "remote-node",
			Created: at(b, ms), Data: []byte(`{"i":1}`), HubPosition: int64(ms)}
	}
	const later = "test:later"
	_, err := s.Insert(ctx, ev("a", TypeFuture, 1), ev("b", TypeFuture, 2), ev("c", later, 3))
	require.NoError(t, err)

	require.NoError(t, reg.Register(eventstore.EventType{Name: TypeFuture}))
	n, err := rv.Revive(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	seen := rv.Revived() // what a projector that handled both revivals keeps
	require.EqualValues(t, 2, seen)

	_, err = evict(t, outbox(t, s), "b")
	require.NoError(t, err)

	require.NoError(t, reg.Register(eventstore.EventType{Name: later}))
	n, err = rv.Revive(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	got := testutil.Collect(t, rv.ReadRevived(ctx, seen, 0))
	assert.Len(t, got, 1, "the event revived after the eviction is past the revival number a projector had reached")
}
