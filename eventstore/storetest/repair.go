package storetest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil"
)

// repairChecks run on edge stores (their Tx is an eventstore.Repairer).
var repairChecks = []check{
	{"RepairEvent", testRepairEvent},
	{"Unacknowledge", testUnacknowledge},
}

// repairer returns tx's Repairer half.
func repairer(t *testing.T, tx eventstore.Tx) eventstore.Repairer {
	t.Helper()
	return capable[eventstore.Repairer](t, tx)
}

// testRepairEvent: a copy takes the hub's content and position, reports
// whether its content changed, refuses a different stream, type or
// timestamp, and rolls back with its transaction.
func testRepairEvent(t *testing.T, h *harness) {
	s := outbox(t, h.store(t))
	ctx := t.Context()
	e := remote("s", TypeNote, at(base(), 1))
	insert(t, s, e)
	fixed := e
	fixed.Data, fixed.Meta, fixed.HubPosition = []byte(`{"i":7}`), []byte(`{"by":"hub"}`), 42

	err := s.Update(ctx, func(tx eventstore.Tx) error {
		pos, changed, err := repairer(t, tx).RepairEvent(ctx, fixed)
		require.NoError(t, err)
		assert.True(t, changed)
		assert.Equal(t, int64(1), pos)
		_, changed, err = repairer(t, tx).RepairEvent(ctx, fixed)
		require.NoError(t, err)
		assert.False(t, changed, "the same content again")
		_, _, err = repairer(t, tx).RepairEvent(ctx, remote("s", TypeNote, at(base(), 2)))
		assert.ErrorIs(t, err, eventstore.ErrNotFound)
		moved := fixed
		moved.Stream = "other"
		_, _, err = repairer(t, tx).RepairEvent(ctx, moved)
		assert.ErrorIs(t, err, eventstore.ErrInvalidEvent, "another stream is not rewritten")
		return nil
	})
	require.NoError(t, err)
	got := testutil.Collect(t, s.ReadAll(ctx, 0, 0))
	require.Len(t, got, 1)
	assert.True(t, eventstore.SameContent(fixed, got[0]))
	assert.Equal(t, int64(42), got[0].HubPosition)
	assert.Equal(t, "s", got[0].Stream)

	boom := errors.New("boom")
	again := fixed
	again.Data = []byte(`{"i":8}`)
	err = s.Update(ctx, func(tx eventstore.Tx) error {
		if _, _, err := repairer(t, tx).RepairEvent(ctx, again); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	got = testutil.Collect(t, s.ReadAll(ctx, 0, 0))
	assert.JSONEq(t, `{"i":7}`, string(got[0].Data), "rolled back")
}

// testUnacknowledge: a local event whose hub position is cleared is
// pending again; a remote one keeps its content and loses its position.
func testUnacknowledge(t *testing.T, h *harness) {
	s := outbox(t, h.store(t))
	ctx := t.Context()
	mine := appendTo(t, s, "s", local(TypeNote, 1))
	other := remote("s", TypeNote, at(base(), 1))
	other.HubPosition = 5
	insert(t, s, other)
	require.NoError(t, s.Update(ctx, func(tx eventstore.Tx) error {
		return txOutbox(t, tx).SetHubPositions(ctx, eventstore.HubAck{ID: mine[0].ID, HubPosition: 6})
	}))
	assert.Empty(t, testutil.Collect(t, s.ReadPending(ctx, 0, 0)))

	require.NoError(t, s.Update(ctx, func(tx eventstore.Tx) error {
		return repairer(t, tx).Unacknowledge(ctx, mine[0].ID, other.ID, "01ZZZZZZZZZZZZZZZZZZZZZZZZ")
	}))
	assert.Equal(t, []string{mine[0].ID}, testutil.IDs(testutil.Collect(t, s.ReadPending(ctx, 0, 0))), "pending again")
	for _, e := range testutil.Collect(t, s.ReadAll(ctx, 0, 0)) {
		assert.Zero(t, e.HubPosition, e.ID)
	}
}
