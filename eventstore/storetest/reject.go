package storetest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil"
)

var outboxChecks = []check{
	{"HubPositions", testHubPositions},
	{"HubPositionOfAnotherEvent", testHubPositionConflict},
	{"ExcludedFromReads", testRejectExcluded},
	{"WholeStream", testRejectWholeStream},
	{"Outdated", testRejectOutdated},
	{"ExpectedVersion", testRejectExpectedVersion},
	{"Ignored", testRejectIgnored},
	{"Snapshots", testRejectSnapshots},
	{"InUpdate", testRejectInUpdate},
}

// localAt builds an event for Append with a chosen Created.
func localAt(typ string, i int, created eventstore.Timestamp) eventstore.Event {
	e := local(typ, i)
	e.Created = created
	return e
}

// streamIDs reads stream with opts and returns the IDs.
func streamIDs(t *testing.T, s store, stream string, opts eventstore.ReadOptions) []string {
	t.Helper()
	return testutil.IDs(testutil.Collect(t, s.ReadStream(t.Context(), stream, opts)))
}

// listStreams returns the first page of ListStreams.
func listStreams(t *testing.T, s store) []eventstore.StreamInfo {
	t.Helper()
	out, err := s.ListStreams(t.Context(), eventstore.ListOptions{})
	require.NoError(t, err)
	return out
}

// rejectedIDs returns the IDs ReadAll yields with Rejected set.
func rejectedIDs(t *testing.T, s store) []string {
	t.Helper()
	var out []string
	for _, e := range testutil.Collect(t, s.ReadAll(t.Context(), 0, 0)) {
		if e.Rejected {
			out = append(out, e.ID)
		}
	}
	return out
}

// testRejectExcluded rejects one event of a stream: stream reads, the
// outbox, the version and ListStreams leave it out; ReadAll still yields it,
// flagged, and Status still knows it.
func testRejectExcluded(t *testing.T, h *harness) {
	s := outbox(t, h.store(t))
	ctx := t.Context()
	b := base()
	evs := appendTo(t, s, "s", localAt(TypeCreated, 1, at(b, 10)), localAt(TypeNote, 2, at(b, 20)), localAt(TypeNote, 3, at(b, 30)))
	other := appendTo(t, s, "t", localAt(TypeNote, 4, at(b, 15)))[0]
	bad := evs[1]

	require.NoError(t, s.Reject(ctx, bad.ID))

	assert.Equal(t, []string{evs[0].ID, evs[2].ID}, streamIDs(t, s, "s", eventstore.ReadOptions{}))
	assert.Equal(t, []string{evs[2].ID, evs[0].ID}, streamIDs(t, s, "s", eventstore.ReadOptions{Reverse: true}))
	assert.Equal(t, []string{evs[2].ID}, streamIDs(t, s, "s", eventstore.ReadOptions{Types: []string{TypeNote}}))
	assert.Equal(t, []string{evs[2].ID}, streamIDs(t, s, "s", eventstore.ReadOptions{After: eventstore.CursorOf(evs[0])}))
	assert.Equal(t, []string{evs[0].ID}, streamIDs(t, s, "s", eventstore.ReadOptions{Until: at(b, 25)}))
	assert.Equal(t, []string{evs[0].ID, other.ID, evs[2].ID},
		testutil.IDs(testutil.Collect(t, s.ReadStreams(ctx, []string{"s", "t"}, eventstore.ReadOptions{}))))
	assert.Equal(t, []string{evs[0].ID, evs[2].ID, other.ID}, testutil.IDs(testutil.Collect(t, s.ReadPending(ctx, 0, 0))))
	assert.Equal(t, int64(2), version(t, s, "s"))
	assert.Equal(t, []eventstore.StreamInfo{si("s", 2), si("t", 1)}, listStreams(t, s))

	all := testutil.Collect(t, s.ReadAll(ctx, 0, 0))
	require.Len(t, all, 4, "the ledger keeps the rejected event")
	assert.Equal(t, int64(4), head(t, s))
	for _, e := range all {
		assert.Equal(t, e.ID == bad.ID, e.Rejected, "Rejected flag of %s", e.ID)
	}
	assert.Equal(t, bad.Position, all[1].Position)
	assert.JSONEq(t, string(bad.Data), string(all[1].Data))

	st, err := s.Status(ctx, bad)
	require.NoError(t, err)
	assert.True(t, st.Exists, "a rejected event is still stored")

	// Its ID stays taken: Insert reports a duplicate and it stays rejected.
	res := insert(t, s, bad)
	assert.False(t, res[0].Inserted)
	assert.Equal(t, bad.Position, res[0].Event.Position)
	assert.Equal(t, []string{bad.ID}, rejectedIDs(t, s))
	assert.Equal(t, int64(2), version(t, s, "s"))
}

// testRejectWholeStream rejects every event of a stream: it reads empty,
// has version 0 and is not listed; appending to it starts again at 1.
func testRejectWholeStream(t *testing.T, h *harness) {
	s := outbox(t, h.store(t))
	ctx := t.Context()
	evs := appendTo(t, s, "gone", local(TypeNote, 1), local(TypeRenamed, 2))
	appendTo(t, s, "kept", local(TypeNote, 3))

	require.NoError(t, s.Reject(ctx, evs[1].ID, evs[0].ID))
	assert.Empty(t, streamIDs(t, s, "gone", eventstore.ReadOptions{}))
	assert.Zero(t, version(t, s, "gone"))
	assert.Equal(t, []eventstore.StreamInfo{si("kept", 1)}, listStreams(t, s))
	assert.ElementsMatch(t, testutil.IDs(evs), rejectedIDs(t, s))

	again, err := s.Append(ctx, eventstore.Write{Stream: "gone", Expect: eventstore.NoStream, Events: []eventstore.Event{local(TypeNote, 4)}})
	require.NoError(t, err, "a stream with only rejected events holds none")
	assert.Equal(t, int64(1), version(t, s, "gone"))
	assert.Equal(t, testutil.IDs(again), streamIDs(t, s, "gone", eventstore.ReadOptions{}))
	assert.Equal(t, []eventstore.StreamInfo{si("gone", 1), si("kept", 1)}, listStreams(t, s))
}

// testRejectOutdated: a rejected event no longer makes earlier events of its
// stream and type outdated, for Status, for events stored later, and for the
// flags it caused on events already stored (re-derived without it).
func testRejectOutdated(t *testing.T, h *harness) {
	s := outbox(t, h.store(t))
	ctx := t.Context()
	b := base()
	late := appendTo(t, s, "o", localAt(TypeNote, 1, at(b, 30)))[0]
	early := appendTo(t, s, "o", localAt(TypeNote, 2, at(b, 10)))[0]
	require.True(t, early.Outdated)
	st, err := s.Status(ctx, early)
	require.NoError(t, err)
	require.True(t, st.Outdated)

	require.NoError(t, s.Reject(ctx, late.ID))

	st, err = s.Status(ctx, early)
	require.NoError(t, err)
	assert.Equal(t, eventstore.EventStatus{Exists: true}, st, "the rejected event no longer outdates it")
	st, err = s.Status(ctx, remote("o", TypeNote, at(b, 5)))
	require.NoError(t, err)
	assert.True(t, st.Outdated, "the type's latest moved back to the remaining event, it did not vanish")

	res := insert(t, s, remote("o", TypeNote, at(b, 20)))
	assert.True(t, res[0].Inserted)
	assert.False(t, res[0].Event.Outdated, "only the rejected event sorted after it")
	mine := appendTo(t, s, "o", localAt(TypeNote, 3, at(b, 25)))[0]
	assert.False(t, mine.Outdated)

	all := testutil.Collect(t, s.ReadAll(ctx, 0, 0))
	require.Len(t, all, 4)
	assert.Equal(t, early.ID, all[1].ID)
	assert.False(t, all[1].Outdated, "the flag the rejected event caused is re-derived without it")

	// In another stream the early event also had a remaining later event,
	// stored before it: it stays outdated.
	keeper := insert(t, s, remote("p", TypeNote, at(b, 50)))
	require.True(t, keeper[0].Inserted)
	late2 := appendTo(t, s, "p", localAt(TypeNote, 4, at(b, 30)))[0]
	early2 := appendTo(t, s, "p", localAt(TypeNote, 5, at(b, 10)))[0]
	other := appendTo(t, s, "p", localAt(TypeRenamed, 6, at(b, 5)))[0]
	require.True(t, early2.Outdated)
	require.NoError(t, s.Reject(ctx, late2.ID))
	flags := map[string]bool{}
	for _, e := range testutil.Collect(t, s.ReadAll(ctx, 0, 0)) {
		flags[e.ID] = e.Outdated
	}
	assert.True(t, flags[early2.ID], "still outdated by the remaining later event")
	assert.False(t, flags[other.ID], "another type is untouched")
}

// testRejectExpectedVersion: an aggregate's next append expects the version
// without the rejected event.
func testRejectExpectedVersion(t *testing.T, h *harness) {
	s := outbox(t, h.store(t))
	ctx := t.Context()
	evs, err := s.Append(ctx, eventstore.Write{Stream: "agg", Expect: eventstore.NoStream,
		Events: []eventstore.Event{local(TypeCreated, 1), local(TypeRenamed, 2), local(TypeRenamed, 3)}})
	require.NoError(t, err)
	require.NoError(t, s.Reject(ctx, evs[2].ID))

	_, err = s.Append(ctx, eventstore.Write{Stream: "agg", Expect: eventstore.Exact(3), Events: []eventstore.Event{local(TypeRenamed, 4)}})
	var ce *eventstore.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, int64(2), ce.Actual)

	next, err := s.Append(ctx, eventstore.Write{Stream: "agg", Expect: eventstore.Exact(2), Events: []eventstore.Event{local(TypeRenamed, 5)}})
	require.NoError(t, err)
	assert.Equal(t, int64(3), version(t, s, "agg"))
	assert.Equal(t, []string{evs[0].ID, evs[1].ID, next[0].ID}, streamIDs(t, s, "agg", eventstore.ReadOptions{}))
	assert.Equal(t, []eventstore.StreamInfo{si("agg", 3)}, listStreams(t, s))
}

// testRejectIgnored: unknown IDs, hydrated events and acknowledged events
// are left alone, and a second Reject of the same event changes nothing.
func testRejectIgnored(t *testing.T, h *harness) {
	s := outbox(t, h.store(t))
	ctx := t.Context()
	b := base()
	theirs := remote("s", TypeNote, at(b, 1))
	insert(t, s, theirs)
	mine := appendTo(t, s, "s", local(TypeNote, 1), local(TypeNote, 2), local(TypeNote, 3))
	require.NoError(t, s.SetHubPositions(ctx, eventstore.HubAck{ID: mine[0].ID, HubPosition: 7}))

	require.NoError(t, s.Reject(ctx))
	require.NoError(t, s.Reject(ctx, eventstore.NewID(), theirs.ID, mine[0].ID))
	assert.Empty(t, rejectedIDs(t, s))
	assert.Equal(t, int64(4), version(t, s, "s"))
	assert.Equal(t, testutil.IDs(mine[1:]), testutil.IDs(testutil.Collect(t, s.ReadPending(ctx, 0, 0))))

	require.NoError(t, s.Reject(ctx, mine[1].ID, mine[1].ID))
	require.NoError(t, s.Reject(ctx, mine[1].ID))
	assert.Equal(t, []string{mine[1].ID}, rejectedIDs(t, s))
	assert.Equal(t, int64(3), version(t, s, "s"), "rejecting twice counts once")
	assert.Equal(t, []eventstore.StreamInfo{si("s", 3)}, listStreams(t, s))
	assert.Equal(t, []string{theirs.ID, mine[0].ID, mine[2].ID}, streamIDs(t, s, "s", eventstore.ReadOptions{}))
	assert.Equal(t, []string{mine[2].ID}, testutil.IDs(testutil.Collect(t, s.ReadPending(ctx, 0, 0))))
}

// testRejectSnapshots: snapshots of the stream at or after the rejected
// event may have folded it and are deleted; earlier ones (also those after
// the earlier event of its type, which becomes the type's latest again) and
// other streams' stay.
func testRejectSnapshots(t *testing.T, h *harness) {
	s := outbox(t, h.store(t))
	ctx := t.Context()
	b := base()
	evs := appendTo(t, s, "s", localAt(TypeCreated, 1, at(b, 10)), localAt(TypeRenamed, 2, at(b, 20)),
		localAt(TypeNote, 3, at(b, 30)), localAt(TypeRenamed, 4, at(b, 40)), localAt(TypeNote, 5, at(b, 50)))
	other := appendTo(t, s, "u", localAt(TypeNote, 6, at(b, 45)))[0]
	save := func(name, stream string, e eventstore.Event, v int64) {
		require.NoError(t, s.SaveSnapshot(ctx, eventstore.Snapshot{Name: name, Stream: stream, Cursor: eventstore.CursorOf(e), Version: v, State: []byte(`{}`)}))
	}
	save("before", "s", evs[0], 1)
	save("mid", "s", evs[2], 3)
	save("at", "s", evs[3], 4)
	save("after", "s", evs[4], 5)
	save("other", "u", other, 1)

	require.NoError(t, s.Reject(ctx, evs[3].ID))
	assert.True(t, snapshotExists(t, s, "before", "s"))
	assert.True(t, snapshotExists(t, s, "mid", "s"), "it did not fold the rejected event")
	assert.False(t, snapshotExists(t, s, "at", "s"))
	assert.False(t, snapshotExists(t, s, "after", "s"))
	assert.True(t, snapshotExists(t, s, "other", "u"))
}

// testRejectInUpdate: Reject is part of its transaction: it rolls back with
// it, and later reads inside it see the reduced version.
func testRejectInUpdate(t *testing.T, h *harness) {
	s := outbox(t, h.store(t))
	ctx := t.Context()
	evs := appendTo(t, s, "s", local(TypeNote, 1), local(TypeNote, 2))
	boom := errors.New("boom")

	err := s.Update(ctx, func(tx eventstore.Tx) error {
		if err := txOutbox(t, tx).Reject(ctx, evs[1].ID); err != nil {
			return err
		}
		v, err := tx.StreamVersion(ctx, "s")
		if err != nil {
			return err
		}
		assert.Equal(t, int64(1), v, "inside the transaction")
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Empty(t, rejectedIDs(t, s), "rolled back")
	assert.Equal(t, int64(2), version(t, s, "s"))
	assert.Equal(t, testutil.IDs(evs), streamIDs(t, s, "s", eventstore.ReadOptions{}))
	assert.Equal(t, testutil.IDs(evs), testutil.IDs(testutil.Collect(t, s.ReadPending(ctx, 0, 0))))
	assert.Equal(t, []eventstore.StreamInfo{si("s", 2)}, listStreams(t, s))

	var next []eventstore.Event
	err = s.Update(ctx, func(tx eventstore.Tx) error {
		if err := txOutbox(t, tx).Reject(ctx, evs[1].ID); err != nil {
			return err
		}
		if err := txAll(t, tx).SetState(ctx, "why", []byte("refused")); err != nil {
			return err
		}
		var err error
		next, err = tx.Append(ctx, eventstore.Write{Stream: "s", Expect: eventstore.Exact(1), Events: []eventstore.Event{local(TypeNote, 3)}})
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, []string{evs[1].ID}, rejectedIDs(t, s))
	assert.Equal(t, []string{evs[0].ID, next[0].ID}, streamIDs(t, s, "s", eventstore.ReadOptions{}))
	assert.Equal(t, int64(2), version(t, s, "s"))
	v, err := s.State(ctx, "why")
	require.NoError(t, err)
	assert.Equal(t, []byte("refused"), v)
}
