package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/storetest"
	"github.com/ferrysync/ferry/internal/testutil"
)

func TestAppendAndRead(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, testSchema(t), Options{})
	s := openStore(t, db, newTenant(t), eventstore.Config{})

	out, err := s.Append(ctx,
		eventstore.Write{Stream: "a", Expect: eventstore.NoStream, Events: []eventstore.Event{ev("t:x", `{"n": 1}`), ev("t:x", `{"n":2}`)}},
		eventstore.Write{Stream: "b", Events: []eventstore.Event{ev("t:y", `{}`)}},
	)
	require.NoError(t, err)
	require.Len(t, out, 3)
	for i, e := range out {
		assert.Equal(t, int64(i+1), e.Position)
		assert.Equal(t, e.Position, e.HubPosition, "hub position is the position")
		assert.Equal(t, "hub", e.Origin)
		assert.False(t, e.Hydrated)
	}
	got := testutil.Collect(t, s.ReadStream(ctx, "a", eventstore.ReadOptions{}))
	require.Len(t, got, 2)
	assert.Equal(t, `{"n": 1}`, string(got[0].Data), "data bytes are kept as given")
	assert.Equal(t, out[0].ID, got[0].ID)
	assert.Equal(t, out[0].Created, got[0].Created)

	v, err := s.StreamVersion(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, int64(2), v)
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), head)

	// Expected versions are checked against the version left by earlier
	// writes of the same call.
	_, err = s.Append(ctx,
		eventstore.Write{Stream: "a", Expect: eventstore.Exact(2), Events: []eventstore.Event{ev("t:x", `{}`)}},
		eventstore.Write{Stream: "a", Expect: eventstore.Exact(2), Events: []eventstore.Event{ev("t:x", `{}`)}},
	)
	var conflict *eventstore.ConflictError
	require.ErrorAs(t, err, &conflict)
	assert.Equal(t, int64(3), conflict.Actual)
	head, err = s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), head, "a failed append leaves no trace")

	// A caller-supplied ID that is already stored.
	dup := out[0]
	dup.Position, dup.HubPosition = 0, 0
	_, err = s.Append(ctx, eventstore.Write{Stream: "a", Events: []eventstore.Event{ev("t:x", `{}`), dup}})
	require.ErrorIs(t, err, eventstore.ErrInvalidEvent)
	var verr *eventstore.ValidationError
	require.ErrorAs(t, err, &verr)
	assert.Equal(t, dup.ID, verr.EventID)

	// Paging through more than one page, forwards and backwards.
	var many []eventstore.Event
	for range 2*pageSize + 10 {
		many = append(many, ev("t:z", `{}`))
	}
	_, err = s.Append(ctx, eventstore.Write{Stream: "long", Events: many})
	require.NoError(t, err)
	fwd := testutil.Collect(t, s.ReadStream(ctx, "long", eventstore.ReadOptions{}))
	require.Len(t, fwd, len(many))
	rev := testutil.Collect(t, s.ReadStream(ctx, "long", eventstore.ReadOptions{Reverse: true, Limit: pageSize + 5}))
	require.Len(t, rev, pageSize+5)
	for i := range rev {
		assert.Equal(t, fwd[len(fwd)-1-i].ID, rev[i].ID)
	}
	all := testutil.Collect(t, s.ReadAll(ctx, 0, 0))
	require.Len(t, all, 3+len(many))
	for i, e := range all {
		require.Equal(t, int64(i+1), e.Position)
	}
	n := 0
	for _, err := range s.ReadAll(ctx, 0, 0) {
		require.NoError(t, err)
		if n++; n == 5 {
			break
		}
	}
	assert.Equal(t, 5, n)
}

func TestOutdatedAndSnapshots(t *testing.T) { bothPaths(t, testOutdatedAndSnapshots) }

func testOutdatedAndSnapshots(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, testSchema(t), Options{})
	s := openStore(t, db, newTenant(t), eventstore.Config{})

	ids := make([]string, 5)
	for i := range ids {
		ids[i] = eventstore.NewID()
	}
	at := func(i int, typ string) eventstore.Event {
		return eventstore.Event{ID: ids[i], Stream: "s", Type: typ, Created: eventstore.MakeTimestamp(1_700_000_000_000, uint16(i)), Origin: "dev"}
	}
	res, err := s.Insert(ctx, at(2, "t:a"), at(1, "t:a"), at(0, "t:b"))
	require.NoError(t, err)
	assert.Equal(t, []storetest.Outcome{
		{ID: ids[2], Inserted: true, Position: 1},
		{ID: ids[1], Inserted: true, Outdated: true, Position: 2}, // an earlier event of the batch sorts after it
		{ID: ids[0], Inserted: true, Position: 3},                 // another type
	}, storetest.Outcomes(res))

	require.NoError(t, s.SaveSnapshot(ctx, eventstore.Snapshot{Name: "r", Stream: "s", Cursor: eventstore.CursorOf(at(3, "")), Version: 3, State: []byte("x")}))
	require.NoError(t, s.SaveSnapshot(ctx, eventstore.Snapshot{Name: "early", Stream: "s", Cursor: eventstore.CursorOf(at(0, "")), Version: 1, State: []byte("y")}))

	// A duplicate (twice in one batch), a stored one, and a late event that
	// sorts before the snapshot "r" but after "early".
	res, err = s.Insert(ctx, at(4, "t:a"), at(2, "t:a"), at(4, "t:a"))
	require.NoError(t, err)
	assert.Equal(t, []storetest.Outcome{
		{ID: ids[4], Inserted: true, Position: 4},
		{ID: ids[2], Inserted: false, Position: 1},
		{ID: ids[4], Inserted: false, Position: 4},
	}, storetest.Outcomes(res))
	// ids[4] sorts after the snapshot: it stays.
	_, err = s.LoadSnapshot(ctx, "r", "s")
	require.NoError(t, err)

	e := at(3, "t:b")
	e.ID = eventstore.NewID()
	e.Created = eventstore.MakeTimestamp(1_700_000_000_000, 2)
	res, err = s.Insert(ctx, e)
	require.NoError(t, err)
	assert.True(t, res[0].Inserted)
	_, err = s.LoadSnapshot(ctx, "r", "s")
	require.ErrorIs(t, err, eventstore.ErrNotFound, "late event invalidates the snapshot past it")
	_, err = s.LoadSnapshot(ctx, "early", "s")
	require.NoError(t, err, "snapshot before the late event stays")

	st, err := s.Status(ctx, at(1, "t:a"))
	require.NoError(t, err)
	assert.Equal(t, eventstore.EventStatus{Exists: true, Outdated: true}, st)
	st, err = s.Status(ctx, at(4, "t:a"))
	require.NoError(t, err)
	assert.Equal(t, eventstore.EventStatus{Exists: true, Outdated: false}, st)

	got := testutil.Collect(t, s.ReadStream(ctx, "s", eventstore.ReadOptions{}))
	require.Len(t, got, 5)
	for i := 1; i < len(got); i++ {
		assert.Equal(t, -1, eventstore.CursorOf(got[i-1]).Compare(eventstore.CursorOf(got[i])))
	}
	for _, e := range got {
		assert.True(t, e.Hydrated)
		assert.Equal(t, e.Position, e.HubPosition)
	}
}

func TestUpdateRollbackAndHook(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, testSchema(t), Options{})
	boom := errors.New("boom")
	var hooked []eventstore.Event
	s := openStore(t, db, newTenant(t), eventstore.Config{OnAppend: func(ctx context.Context, tx eventstore.Tx, events []eventstore.Event) error {
		if string(events[0].Data) == `{"fail":true}` {
			return boom
		}
		hooked = append(hooked, events...)
		return tx.(*Tx).SetState(ctx, "last", []byte(events[len(events)-1].ID))
	}})

	err := s.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{ev("t", `{}`)}})
		require.NoError(t, err)
		require.NoError(t, tx.(*Tx).SetCheckpoint(ctx, "p", 1))
		return boom
	})
	require.ErrorIs(t, err, boom)
	_, err = s.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{ev("t", `{"fail":true}`)}})
	require.ErrorIs(t, err, boom)

	out, err := s.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{ev("t", `{}`)}})
	require.NoError(t, err)
	assert.Equal(t, int64(1), out[0].Position, "rolled back positions are reused: no hole")
	require.Len(t, hooked, 2)
	last, err := s.State(ctx, "last")
	require.NoError(t, err)
	assert.Equal(t, out[0].ID, string(last))
	cp, err := s.Checkpoint(ctx, "p")
	require.NoError(t, err)
	assert.Zero(t, cp)

	var ptx *Tx
	require.NoError(t, s.Update(ctx, func(tx eventstore.Tx) error {
		ptx = tx.(*Tx)
		var one int
		return ptx.Pgx().QueryRow(ctx, "SELECT 1").Scan(&one)
	}))
	require.ErrorIs(t, ptx.SetState(ctx, "k", nil), eventstore.ErrClosed)
}

// TestSwallowedErrorsLeaveNoHole: an Append that fails inside Update writes
// nothing, even when the caller ignores the error and commits.
func TestSwallowedErrorsLeaveNoHole(t *testing.T) { bothPaths(t, testSwallowedErrorsLeaveNoHole) }

func testSwallowedErrorsLeaveNoHole(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, testSchema(t), Options{})
	s := openStore(t, db, newTenant(t), eventstore.Config{})
	out, err := s.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{ev("t", `{}`)}})
	require.NoError(t, err)
	dup := out[0]
	dup.Position, dup.HubPosition = 0, 0

	require.NoError(t, s.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.Append(ctx, eventstore.Write{Stream: "s", Expect: eventstore.NoStream, Events: []eventstore.Event{ev("t", `{}`)}})
		require.ErrorIs(t, err, eventstore.ErrConcurrency)
		_, err = tx.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{ev("t", `{}`), dup}})
		require.ErrorIs(t, err, eventstore.ErrInvalidEvent)
		return nil // commit anyway
	}))
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), head)
	assert.Len(t, testutil.Collect(t, s.ReadAll(ctx, 0, 0)), 1)
	v, err := s.StreamVersion(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, int64(1), v)
	out, err = s.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{ev("t", `{}`)}})
	require.NoError(t, err)
	assert.Equal(t, int64(2), out[0].Position)
}

// TestInsertResentBatch: a batch holding already stored events (a re-sent
// push) stores the new ones at contiguous positions after the head,
// whatever their place in the batch.
func TestInsertResentBatch(t *testing.T) { bothPaths(t, testInsertResentBatch) }

func testInsertResentBatch(t *testing.T) {
	ctx := context.Background()
	for _, replica := range []bool{false, true} {
		db := openDB(t, testSchema(t), Options{RecordHubPositions: replica})
		s := openStore(t, db, newTenant(t), eventstore.Config{})
		clock := eventstore.NewClock()
		mk := func() eventstore.Event {
			return eventstore.Event{ID: eventstore.NewID(), Stream: "s", Type: "t", Created: clock.Now(), Origin: "dev", HubPosition: 42}
		}
		a, b, c, d, e := mk(), mk(), mk(), mk(), mk()
		_, err := s.Insert(ctx, a, b)
		require.NoError(t, err)

		res, err := s.Insert(ctx, a, c, b, d, c, e)
		require.NoError(t, err)
		assert.Equal(t, []storetest.Outcome{
			{ID: a.ID, Inserted: false, Position: 1},
			{ID: c.ID, Inserted: true, Position: 3},
			{ID: b.ID, Inserted: false, Position: 2},
			{ID: d.ID, Inserted: true, Position: 4},
			{ID: c.ID, Inserted: false, Position: 3},
			{ID: e.ID, Inserted: true, Position: 5},
		}, storetest.Outcomes(res), "replica=%v", replica)

		all := testutil.Collect(t, s.ReadAll(ctx, 0, 0))
		require.Len(t, all, 5)
		for i, ev := range all {
			assert.Equal(t, int64(i+1), ev.Position)
			if replica {
				assert.Equal(t, int64(42), ev.HubPosition)
			} else {
				assert.Equal(t, ev.Position, ev.HubPosition)
			}
		}
		assert.Equal(t, []string{a.ID, b.ID, c.ID, d.ID, e.ID}, []string{all[0].ID, all[1].ID, all[2].ID, all[3].ID, all[4].ID})
		head, err := s.Head(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(5), head)
		v, err := s.StreamVersion(ctx, "s")
		require.NoError(t, err)
		assert.Equal(t, int64(5), v)

		// A batch of duplicates only changes nothing.
		res, err = s.Insert(ctx, e, a)
		require.NoError(t, err)
		assert.False(t, res[0].Inserted || res[1].Inserted)
		head, err = s.Head(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(5), head)
	}
}

// TestAppendChecksInStatement: appendSQL checks the expectations of the
// writes of one call in call order, each against the version the earlier
// writes leave, and a failed one stores nothing and moves nothing, through
// Store.Append (its own implicit transaction) and Tx.Append alike.
func TestAppendChecksInStatement(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, testSchema(t), Options{})
	s := openStore(t, db, newTenant(t), eventstore.Config{})
	one := func() []eventstore.Event { return []eventstore.Event{ev("t", `{}`)} }
	conflict := func(err error, stream string, actual int64) {
		t.Helper()
		var ce *eventstore.ConflictError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, stream, ce.Stream)
		assert.Equal(t, actual, ce.Actual)
	}
	nothingMoved := func(head int64) {
		t.Helper()
		h, err := s.Head(ctx)
		require.NoError(t, err)
		assert.Equal(t, head, h)
		v, err := s.StreamVersion(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, head, v)
	}

	_, err := s.Append(ctx,
		eventstore.Write{Stream: "a", Expect: eventstore.NoStream, Events: one()},
		eventstore.Write{Stream: "a", Expect: eventstore.Exact(1), Events: one()},
		eventstore.Write{Stream: "b", Expect: eventstore.StreamExists, Events: one()})
	conflict(err, "b", 0)
	nothingMoved(0)

	out, err := s.Append(ctx,
		eventstore.Write{Stream: "a", Expect: eventstore.NoStream, Events: one()},
		eventstore.Write{Stream: "a", Expect: eventstore.Exact(1), Events: one()})
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2}, []int64{out[0].Position, out[1].Position})

	_, err = s.Append(ctx, eventstore.Write{Stream: "a", Expect: eventstore.Exact(1), Events: one()})
	conflict(err, "a", 2)
	nothingMoved(2)

	require.NoError(t, s.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.Append(ctx,
			eventstore.Write{Stream: "a", Expect: eventstore.Exact(2), Events: one()},
			eventstore.Write{Stream: "a", Expect: eventstore.Exact(2), Events: one()})
		conflict(err, "a", 3)
		out, err := tx.Append(ctx, eventstore.Write{Stream: "a", Expect: eventstore.StreamExists, Events: one()})
		require.NoError(t, err)
		assert.Equal(t, int64(3), out[0].Position)
		return nil
	}))
	nothingMoved(3)
}
