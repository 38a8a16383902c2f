package client_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/client"
)

// Two devices write offline to shared streams, then sync: both end with the
// hub's event set, nothing duplicated, and the same order in every stream.
func TestConverge(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newTestHub(t)
			a, bb := b.open(t, "dev-a"), b.open(t, "dev-b")
			write(t, a, "list/1", 5)
			write(t, bb, "list/1", 4)
			write(t, a, "list/2", 3)
			write(t, bb, "list/3", 2)
			ra, rb := replicator(t, h, a, "acme"), replicator(t, h, bb, "acme")

			st := syncOnce(t, ra)
			assert.Equal(t, 8, st.Pushed)
			st = syncOnce(t, rb)
			assert.Equal(t, 6, st.Pushed)
			assert.GreaterOrEqual(t, st.Inserted, 8, "b pulls a's events")
			syncOnce(t, ra)

			hubLedger := testutil.Ledger(t, h.tenant("acme"))
			require.Len(t, hubLedger, 14)
			want := testutil.IDs(hubLedger)
			slices.Sort(want)
			for _, s := range []eventstore.Store{a, bb} {
				got := testutil.IDs(testutil.Ledger(t, s))
				slices.Sort(got)
				assert.Equal(t, want, got, "same event set, no duplicates")
				for _, stream := range []string{"list/1", "list/2", "list/3"} {
					assert.Equal(t, testutil.IDs(testutil.ReadStream(t, h.tenant("acme"), stream)), testutil.IDs(testutil.ReadStream(t, s, stream)), stream)
				}
			}
			for _, r := range []*client.Replicator{ra, rb} {
				st, err := r.Status(context.Background())
				require.NoError(t, err)
				assert.Zero(t, st.Pending)
				assert.True(t, st.Online)
				assert.Positive(t, st.Cursor)
				assert.False(t, st.LastSync.IsZero())
				assert.Empty(t, st.LastError)
			}
		})
	}
}

// The client's own events come back from the hub: they are not stored
// twice, and carry the hub position the hub gave them.
func TestOwnEventsComeBack(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newTestHub(t)
			s := b.open(t, "dev-a")
			mine := write(t, s, "x", 30)
			r := replicator(t, h, s, "acme", batchSize(7))
			st := syncOnce(t, r)
			assert.Equal(t, 30, st.Pushed)
			// One SyncOnce ends in step with the hub as of its own push:
			// it waits for its acked events to come back.
			assert.Equal(t, int64(30), st.Cursor, "cursor reaches every acked position")

			st = syncOnce(t, r) // nothing left to do
			assert.Zero(t, st.Pushed)
			assert.Zero(t, st.Pulled)
			assert.Zero(t, st.Inserted, "own events are duplicates")
			assert.Equal(t, int64(30), st.Cursor)

			hubPos := map[string]int64{}
			for _, e := range testutil.Ledger(t, h.tenant("acme")) {
				hubPos[e.ID] = e.Position
			}
			local := testutil.Ledger(t, s)
			require.Len(t, local, 30, "nothing stored twice")
			assert.Equal(t, testutil.IDs(mine), testutil.IDs(local))
			for _, e := range local {
				assert.False(t, e.Hydrated, "own events stay local (not hydrated)")
				assert.Equal(t, hubPos[e.ID], e.HubPosition, "hub position recorded for %s", e.ID)
			}
		})
	}
}

// A new Replicator over the same SQLite file resumes from the persisted
// cursor: it pulls only what is new.
func TestCursorPersists(t *testing.T) {
	h := newTestHub(t)
	write(t, h.tenant("acme"), "hub/stream", 300)
	path := t.TempDir() + "/dev.db"

	s1 := openSQLite(t, path, "dev-a")
	st := syncOnce(t, replicator(t, h, s1, "acme"))
	assert.Equal(t, 300, st.Pulled)
	assert.Equal(t, 300, st.Inserted)
	assert.Equal(t, int64(300), st.Cursor)
	require.NoError(t, s1.Close())

	write(t, h.tenant("acme"), "hub/stream", 7)
	s2 := openSQLite(t, path, "dev-a")
	r2 := replicator(t, h, s2, "acme")
	before, err := r2.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(300), before.Cursor)
	st = syncOnce(t, r2)
	assert.Equal(t, 7, st.Pulled, "no full resync")
	assert.Equal(t, 7, st.Inserted)
	assert.Equal(t, int64(307), st.Cursor)
	assert.Len(t, testutil.Ledger(t, s2), 307)
}
