package client_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/sync/client"
)

// ledgerOf returns every event of s by ID.
func ledgerOf(t testing.TB, s eventstore.Store) map[string]eventstore.Event {
	t.Helper()
	out := map[string]eventstore.Event{}
	for e, err := range s.ReadAll(context.Background(), 0, 0) {
		require.NoError(t, err)
		out[e.ID] = e
	}
	return out
}

// requireSameAsHub fails unless device holds exactly the hub's events, with
// the same content at the same hub positions.
func requireSameAsHub(t testing.TB, hubStore, device eventstore.Store) {
	t.Helper()
	hubEvents, mine := ledgerOf(t, hubStore), ledgerOf(t, device)
	require.Len(t, mine, len(hubEvents), "events held")
	for id, h := range hubEvents {
		e, ok := mine[id]
		require.True(t, ok, "the device lacks %s", id)
		assert.True(t, eventstore.SameContent(h, e), "content of %s", id)
		assert.Equal(t, h.Position, e.HubPosition, "hub position of %s", id)
	}
}

// writeSpread appends n events over 7 streams.
func writeSpread(t testing.TB, s eventstore.Store, prefix string, n int) {
	t.Helper()
	for i := range n {
		_, err := s.Append(context.Background(), eventstore.Write{Stream: fmt.Sprintf("%s/%d", prefix, i%7), Events: []eventstore.Event{{
			Type: "note:added", Data: []byte(fmt.Sprintf(`{"n":%d}`, i)),
		}}})
		require.NoError(t, err)
	}
}

// TestRepairHandEditedEvent changes a replica's stored event by hand: the
// next sync (with verification due) detects it and re-pulls only the range
// around it.
func TestRepairHandEditedEvent(t *testing.T) {
	h := newTestHub(t)
	ctx := context.Background()
	a := openSQLite(t, filepath.Join(t.TempDir(), "a.db"), "a")
	b := openSQLite(t, filepath.Join(t.TempDir(), "b.db"), "b")
	writeSpread(t, a, "note", 3000)
	syncOnce(t, replicator(t, h, a, "t1"))
	rb := replicator(t, h, b, "t1", func(c *client.Config) { c.VerifyEvery = -1 })
	syncOnce(t, rb)
	requireSameAsHub(t, h.tenant("t1"), b)

	// Edit one pulled event in b's file, as a user with a SQLite shell would.
	var victim eventstore.Event
	for e, err := range b.ReadAll(ctx, 1700, 1) {
		require.NoError(t, err)
		victim = e
	}
	require.NoError(t, b.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx, `UPDATE events SET data = '{"n":-1}' WHERE id = ?`, victim.ID)
		return err
	}))

	// Without verification, the kept digest matches the hub's: nothing is
	// noticed (this is what VerifyEvery is for).
	st := syncOnce(t, rb)
	assert.Nil(t, st.Repair)

	rb = replicator(t, h, b, "t1", func(c *client.Config) { c.VerifyEvery = 1 })
	st = syncOnce(t, rb)
	require.NotNil(t, st.Repair, "the edited event must be detected")
	assert.Equal(t, 1, st.Repair.Changed)
	assert.Equal(t, 1, st.Repair.Ranges, "only the range around the edit is re-pulled")
	assert.Zero(t, st.Repair.Inserted)
	requireSameAsHub(t, h.tenant("t1"), b)
	status, err := rb.Status(ctx)
	require.NoError(t, err)
	require.NotNil(t, status.LastRepair)
	assert.False(t, status.RepairDue)
	assert.NotEmpty(t, status.Digest)

	// The next sync finds nothing to repair.
	st = syncOnce(t, rb)
	assert.Nil(t, st.Repair)
}

// TestRepairHubRestoredFromBackup restores the hub's ledger to an earlier
// copy while devices hold events past it, and new events take the lost
// positions: every device detects it, re-pushes what the hub lost, drops the
// positions the hub reassigned, and all end holding the hub's ledger. When
// the new events outgrow the devices' cursors, only the digests tell.
func TestRepairHubRestoredFromBackup(t *testing.T) {
	for _, be := range backends() {
		for _, written := range []int{20, 80} {
			t.Run(fmt.Sprintf("%s/%d new events", be.name, written), func(t *testing.T) { testRestoredHub(t, be, written) })
		}
	}
}

func testRestoredHub(t *testing.T, be backend, written int) {
	h := newTestHub(t)
	ctx := context.Background()
	a, b, c := be.open(t, "a"), be.open(t, "b"), be.open(t, "c")
	ra, rb, rc := replicator(t, h, a, "t1"), replicator(t, h, b, "t1"), replicator(t, h, c, "t1")
	writeSpread(t, a, "a", 100)
	syncOnce(t, ra)
	syncOnce(t, rb)

	// The backup: the hub's first 100 events.
	backup := memory.New(eventstore.Config{Origin: "hub"})
	var first []eventstore.Event
	for e, err := range h.tenant("t1").ReadAll(ctx, 0, 0) {
		require.NoError(t, err)
		first = append(first, e)
	}
	_, err := backup.Insert(ctx, first...)
	require.NoError(t, err)

	writeSpread(t, a, "a", 50) // hub positions 101..150, lost by the restore
	writeSpread(t, b, "b", 10) // 151..160, lost too
	syncOnce(t, ra)
	syncOnce(t, rb)
	syncOnce(t, ra)
	require.Len(t, ledgerOf(t, b), 160)

	// Restore, restart, and let another device take positions 101..120.
	h.mu.Lock()
	old := h.stores["t1"]
	h.stores["t1"] = backup
	h.mu.Unlock()
	h.restart()
	_ = old.Close()
	writeSpread(t, c, "c", written)
	syncOnce(t, rc)

	stB := syncOnce(t, rb)
	require.NotNil(t, stB.Repair, "b must notice the hub lost events")
	assert.Positive(t, stB.Repair.Unacknowledged)
	assert.Equal(t, min(written, 60), stB.Repair.Inserted, "c's events at the positions b held others at")
	stA := syncOnce(t, ra)
	require.NotNil(t, stA.Repair)
	syncOnce(t, rb)
	syncOnce(t, rc)
	hubStore := h.tenant("t1")
	require.Len(t, ledgerOf(t, hubStore), 160+written, "every event written is back at the hub")
	for _, s := range []deviceStore{a, b, c} {
		requireSameAsHub(t, hubStore, s)
	}
	for _, r := range []*client.Replicator{ra, rb, rc} {
		st, err := r.Status(ctx)
		require.NoError(t, err)
		assert.Zero(t, st.Pending)
		assert.False(t, st.RepairDue)
	}
}
