package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
)

// evictOn sets Config.Evict.
func evictOn(c *client.Config) { c.Evict = true }

// streamsOf returns the streams of device's events, with their counts.
func streamsOf(t testing.TB, device eventstore.Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, e := range ledgerOf(t, device) {
		out[e.Stream]++
	}
	return out
}

// TestEvictAfterUnsubscribe: with Config.Evict, the streams of a removed
// subscription leave the store whole (events, versions, snapshots), the
// device holds exactly the hub's copy of the narrower scope, and the
// digest holds: no repair follows.
func TestEvictAfterUnsubscribe(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			h := newTestHub(t)
			a, b, ra, rb := evictPair(t, h, be)
			subscribeBoth(t, a, ra, rb, 20, 20)
			snaps, ok := any(b).(eventstore.Snapshots)
			require.True(t, ok)
			for _, stream := range []string{"list/a/0", "list/b/0"} {
				require.NoError(t, snaps.SaveSnapshot(ctx, eventstore.Snapshot{Name: "r", Stream: stream, Version: 1, State: []byte(`{}`)}))
			}

			require.NoError(t, rb.Unsubscribe(ctx, "list/a/"))
			writeSpread(t, a, "list/a", 7)
			writeSpread(t, a, "list/b", 3)
			syncOnce(t, ra)
			st := syncOnce(t, rb)
			assert.Equal(t, 20, st.Evicted)
			assert.Nil(t, st.Repair)
			requireHolds(t, rb, b, inScope(t, h.tenant("t1"), "list/b/"))
			v, err := b.StreamVersion(ctx, "list/a/0")
			require.NoError(t, err)
			assert.Zero(t, v)
			_, err = snaps.LoadSnapshot(ctx, "r", "list/a/0")
			assert.ErrorIs(t, err, eventstore.ErrNotFound)
			_, err = snaps.LoadSnapshot(ctx, "r", "list/b/0")
			assert.NoError(t, err)
			assert.False(t, statusOf(t, rb).EvictDue)

			st = syncOnce(t, rb)
			assert.Nil(t, st.Repair)
			assert.Zero(t, st.Evicted)
		})
	}
}

// TestEvictKeepsUnpushed: nothing is evicted while the hub cannot be
// reached (an eviction waits for a session that has checked the hub's copy
// of the ledger); at the next sync the streams without local events go as
// the session starts, and a stream that holds unpushed local events is
// kept whole (its pulled events too) until they are acked, then evicted:
// the hub ends with the events, the device without the streams.
func TestEvictKeepsUnpushed(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			h := newTestHub(t)
			a, b, ra, rb := evictPair(t, h, be)
			subscribeBoth(t, a, ra, rb, 14, 7) // list/a/0..6, two each

			mine := write(t, b, "list/a/3", 3) // offline
			require.NoError(t, rb.Unsubscribe(ctx, "list/a/"))
			syncHubDown(t, h, rb)
			held := streamsOf(t, b)
			assert.Equal(t, 5, held["list/a/3"], "kept whole: two pulled, three unpushed")
			for _, s := range []string{"list/a/0", "list/a/1", "list/a/2", "list/a/4", "list/a/5", "list/a/6"} {
				assert.Equal(t, 2, held[s], "%s waits for a session that has checked the hub's copy", s)
			}
			status := statusOf(t, rb)
			assert.True(t, status.EvictDue)
			assert.Equal(t, 3, status.Pending)

			h.restart()
			st := syncOnce(t, rb)
			assert.Equal(t, 3, st.Pushed)
			assert.Equal(t, 17, st.Evicted, "12 as the session starts, list/a/3's 5 once its events are acked")
			assert.Nil(t, st.Repair)
			assertAtHub(t, h, mine, "pushed before it was evicted")
			requireHolds(t, rb, b, inScope(t, h.tenant("t1"), "list/b/"))
			status = statusOf(t, rb)
			assert.False(t, status.EvictDue)
			assert.Zero(t, status.Pending)
		})
	}
}

// TestEvictDueSurvivesReopen: an eviction due when the hub could not be
// reached is remembered by the SQLite store: a replicator over the
// reopened file pushes the stream's local events and evicts the streams.
func TestEvictDueSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	h := newTestHub(t)
	path := filepath.Join(t.TempDir(), "b.db")
	a, b := backends()[0].open(t, "a"), openSQLite(t, path, "b")
	ra, rb := replicator(t, h, a, "t1"), replicator(t, h, b, "t1", evictOn)
	subscribeBoth(t, a, ra, rb, 7, 7)
	mine := write(t, b, "list/a/1", 2)
	require.NoError(t, rb.Unsubscribe(ctx, "list/a/"))
	syncHubDown(t, h, rb)
	require.Equal(t, 3, streamsOf(t, b)["list/a/1"])
	require.NoError(t, b.Close())

	h.restart()
	b = openSQLite(t, path, "b")
	rb = replicator(t, h, b, "t1", evictOn)
	assert.True(t, statusOf(t, rb).EvictDue, "kept in the file")
	st := syncOnce(t, rb)
	assert.Equal(t, 2, st.Pushed)
	assert.Equal(t, 9, st.Evicted, "list/a's 7, and list/a/1's 2 once acked")
	assertAtHub(t, h, mine)
	requireHolds(t, rb, b, inScope(t, h.tenant("t1"), "list/b/"))
}

// TestEvictResubscribe: a stream evicted, then subscribed to again, comes
// back through the backfill, with what was written meanwhile; no repair.
func TestEvictResubscribe(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			h := newTestHub(t)
			a, b, ra, rb := evictPair(t, h, be)
			subscribeBoth(t, a, ra, rb, 20, 20)
			require.NoError(t, rb.Unsubscribe(ctx, "list/a/"))
			require.Equal(t, 20, syncOnce(t, rb).Evicted)
			writeSpread(t, a, "list/a", 5)
			syncOnce(t, ra)

			require.NoError(t, rb.Subscribe(ctx, "list/a/"))
			st := syncOnce(t, rb)
			assert.Equal(t, 20, st.Backfilled, "below the cursor; the 5 new ones are pulled")
			assert.Nil(t, st.Repair)
			requireHolds(t, rb, b, inScope(t, h.tenant("t1"), "list/a/", "list/b/"))
			assert.Nil(t, syncOnce(t, rb).Repair)
		})
	}
}

// perStream is a read model counting events per stream, as one JSON
// object under key.
func perStream(ctx context.Context, kv eventstore.KeyValues, key string) (map[string]int, error) {
	out := map[string]int{}
	v, err := kv.State(ctx, key)
	if errors.Is(err, eventstore.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	return out, json.Unmarshal(v, &out)
}

func setPerStream(ctx context.Context, kv eventstore.KeyValues, key string, m map[string]int) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return kv.SetState(ctx, key, v)
}

// countsProjector counts events per stream under key; with reset, it has
// a Reset (deleting key).
func countsProjector(t *testing.T, store deviceStore, key string, reset bool) *projector.Projector {
	t.Helper()
	h := projector.NewHandlers()
	projector.All(h, "note:added", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, _ json.RawMessage) error {
		kv := eventstore.KeyValuesOf(tx)
		m, err := perStream(ctx, kv, key)
		if err != nil {
			return err
		}
		m[e.Stream]++
		return setPerStream(ctx, kv, key, m)
	})
	opts := projector.Options{Handlers: h}
	if reset {
		opts.Reset = func(ctx context.Context, tx eventstore.Tx) error {
			return eventstore.KeyValuesOf(tx).DeleteState(ctx, key)
		}
	}
	p, err := projector.New(key, store, opts)
	require.NoError(t, err)
	return p
}

// TestEvictReadModels: read models counting events per stream agree with
// the store after an eviction, both ways: a projector with a Reset is
// reset in the eviction's transaction and replays the ledger; one without
// is cleared by Config.OnEvict in that transaction.
func TestEvictReadModels(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			h := newTestHub(t)
			a, b := be.open(t, "a"), be.open(t, "b")
			var hookGot []string
			ra := replicator(t, h, a, "t1")
			rb, rebuilt, hooked := evictingProjected(t, h, b, &hookGot)
			subscribeBoth(t, a, ra, rb, 20, 30)
			catchUp(t, rebuilt, hooked)
			before, err := perStream(ctx, b, "rebuilt")
			require.NoError(t, err)
			require.Equal(t, streamsOf(t, b), before, "in step before")

			require.NoError(t, rb.Unsubscribe(ctx, "list/a/"))
			st := syncOnce(t, rb)
			require.Equal(t, 20, st.Evicted)
			assert.Equal(t, []string{"list/a/0", "list/a/1", "list/a/2", "list/a/3", "list/a/4", "list/a/5", "list/a/6"}, hookGot)
			catchUp(t, rebuilt, hooked)
			want := streamsOf(t, b)
			require.Len(t, want, 7, "list/b/'s streams")
			assertCounts(t, b, want)
		})
	}
}
