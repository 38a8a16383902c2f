package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/hub"
)

// inScope returns the hub's events whose streams start with one of
// prefixes.
func inScope(t testing.TB, hubStore eventstore.Store, prefixes ...string) map[string]eventstore.Event {
	t.Helper()
	out := map[string]eventstore.Event{}
	for id, e := range ledgerOf(t, hubStore) {
		for _, p := range prefixes {
			if strings.HasPrefix(e.Stream, p) {
				out[id] = e
				break
			}
		}
	}
	return out
}

// requireHolds fails unless device holds exactly want (by ID), each once,
// at the hub's position with the hub's content, and its kept digest is the
// digest of want.
func requireHolds(t testing.TB, r *client.Replicator, device eventstore.Store, want map[string]eventstore.Event) {
	t.Helper()
	mine := ledgerOf(t, device)
	require.Len(t, mine, len(want), "events held")
	var d eventstore.Digest
	for id, h := range want {
		e, ok := mine[id]
		require.True(t, ok, "the device lacks %s (%s)", id, h.Stream)
		assert.True(t, eventstore.SameContent(h, e), "content of %s", id)
		assert.Equal(t, h.Position, e.HubPosition, "hub position of %s", id)
		d.Add(h, h.Position)
	}
	st, err := r.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, d.String(), st.Digest, "the kept digest is the digest of the scope")
	assert.False(t, st.RepairDue)
}

// TestSubscribeBackfills: a device that pulls list/a/ subscribes to
// list/b/: the next sync backfills list/b/'s history below its cursor and
// pulls what came after, without a repair; list/c/ never arrives.
func TestSubscribeBackfills(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			h := newTestHub(t)
			a, b := be.open(t, "a"), be.open(t, "b")
			ra, rb := replicator(t, h, a, "t1"), replicator(t, h, b, "t1")
			writeSpread(t, a, "list/a", 30)
			writeSpread(t, a, "list/b", 40)
			writeSpread(t, a, "list/c", 10)
			syncOnce(t, ra)
			require.NoError(t, rb.Subscribe(ctx, "list/a/"))
			st := syncOnce(t, rb)
			assert.Zero(t, st.Backfilled, "a fresh store catches up, nothing to backfill")
			requireHolds(t, rb, b, inScope(t, h.tenant("t1"), "list/a/"))

			writeSpread(t, a, "list/b", 5)
			syncOnce(t, ra)
			require.NoError(t, rb.Subscribe(ctx, "list/b/", "list/a/x")) // list/a/x is covered already
			subs, err := rb.Subscriptions(ctx)
			require.NoError(t, err)
			assert.Equal(t, []string{"list/a/", "list/b/"}, subs)
			st = syncOnce(t, rb)
			assert.Equal(t, 40, st.Backfilled, "list/b/'s history below the cursor")
			assert.Nil(t, st.Repair, "the digest holds for the new scope")
			requireHolds(t, rb, b, inScope(t, h.tenant("t1"), "list/a/", "list/b/"))
			st = syncOnce(t, rb)
			assert.Zero(t, st.Backfilled)
			assert.Nil(t, st.Repair)
		})
	}
}

// TestBackfillResumes: a backfill cut short after some frames resumes
// where it stopped at the next sync; nothing is doubled or missed.
func TestBackfillResumes(t *testing.T) {
	ctx := context.Background()
	h := newTestHub(t, func(c *hub.Config) { c.Limits.MaxEventsPerBatch = 5 }) // frames of 5 events
	a, b := backends()[1].open(t, "a"), backends()[1].open(t, "b")
	ra := replicator(t, h, a, "t1")
	rb := replicator(t, h, b, "t1", func(c *client.Config) { c.PullBatch = 5 }) // one frame per transaction
	writeSpread(t, a, "list/a", 50)
	writeSpread(t, a, "list/b", 50)
	syncOnce(t, ra)
	require.NoError(t, rb.Subscribe(ctx, "list/a/"))
	syncOnce(t, rb)
	require.NoError(t, rb.Subscribe(ctx, "list/b/"))

	cut := errors.New("cut")
	client.SetBackfillHook(func(to int64) error {
		if to == 75 { // list/b/ holds positions 51..100: half of it is done
			return cut
		}
		return nil
	})
	defer client.SetBackfillHook(nil)
	_, err := rb.SyncOnce(ctx)
	require.ErrorIs(t, err, cut)
	status, err := rb.Status(ctx)
	require.NoError(t, err)
	assert.True(t, status.BackfillDue, "the rest is due")
	partial := len(ledgerOf(t, b))
	assert.Equal(t, 75, partial, "the frames stored before the cut are kept")

	st := syncOnce(t, rb)
	assert.Equal(t, 100-partial, st.Backfilled, "the rest, once")
	status, err = rb.Status(ctx)
	require.NoError(t, err)
	assert.False(t, status.BackfillDue)
	assert.Nil(t, st.Repair)
	requireHolds(t, rb, b, inScope(t, h.tenant("t1"), "list/"))
}

// TestUnsubscribe: the events of a removed subscription stay in the store
// but are no longer pulled, and the digest follows the narrower scope.
func TestUnsubscribe(t *testing.T) {
	ctx := context.Background()
	h := newTestHub(t)
	a, b := backends()[1].open(t, "a"), backends()[1].open(t, "b")
	ra, rb := replicator(t, h, a, "t1"), replicator(t, h, b, "t1")
	writeSpread(t, a, "list/a", 20)
	writeSpread(t, a, "list/b", 20)
	syncOnce(t, ra)
	require.NoError(t, rb.Subscribe(ctx, "list/a/", "list/b/"))
	syncOnce(t, rb)
	require.NoError(t, rb.Unsubscribe(ctx, "list/a/"))
	require.Error(t, rb.Unsubscribe(ctx, "list/b/"), "the last one cannot go")
	writeSpread(t, a, "list/a", 7)
	writeSpread(t, a, "list/b", 3)
	syncOnce(t, ra)
	st := syncOnce(t, rb)
	assert.Nil(t, st.Repair)
	held := ledgerOf(t, b)
	assert.Len(t, held, 43, "list/a/'s 20 stay, its 7 new ones do not come")
	status, err := rb.Status(ctx)
	require.NoError(t, err)
	var d eventstore.Digest
	for _, e := range inScope(t, h.tenant("t1"), "list/b/") {
		d.Add(e, e.Position)
	}
	assert.Equal(t, d.String(), status.Digest)
	assert.Nil(t, syncOnce(t, rb).Repair)
}

// TestSubscribeWithLocalEvents: offline, a device writes to a stream
// outside its subscriptions, then subscribes to it: its own events are
// pushed, others' history is backfilled, and it ends holding the hub's
// copy of the new scope.
func TestSubscribeWithLocalEvents(t *testing.T) {
	ctx := context.Background()
	h := newTestHub(t)
	a, b := backends()[0].open(t, "a"), backends()[0].open(t, "b")
	ra, rb := replicator(t, h, a, "t1"), replicator(t, h, b, "t1")
	writeSpread(t, a, "list/a", 10)
	writeSpread(t, a, "list/c", 10)
	syncOnce(t, ra)
	require.NoError(t, rb.Subscribe(ctx, "list/a/"))
	syncOnce(t, rb)
	writeSpread(t, b, "list/c", 3) // offline, outside its scope
	require.NoError(t, rb.Subscribe(ctx, "list/c/"))
	st := syncOnce(t, rb)
	assert.Equal(t, 3, st.Pushed)
	assert.Equal(t, 10, st.Backfilled)
	assert.Nil(t, st.Repair)
	requireHolds(t, rb, b, inScope(t, h.tenant("t1"), "list/a/", "list/c/"))
}

// TestSubscribeErrors: a store that pulled every stream cannot subscribe;
// bad prefixes are refused.
func TestSubscribeErrors(t *testing.T) {
	ctx := context.Background()
	h := newTestHub(t)
	a := backends()[0].open(t, "a")
	ra := replicator(t, h, a, "t1")
	writeSpread(t, a, "list/a", 2)
	syncOnce(t, ra)
	assert.ErrorIs(t, ra.Subscribe(ctx, "list/a/"), client.ErrPullsEverything)
	for _, bad := range []string{"", "a\x00b", string([]byte{0xff})} {
		assert.Error(t, ra.Subscribe(ctx, bad), "%q", bad)
	}
	assert.Error(t, ra.Subscribe(ctx))
}

// TestRunReconnectsOnSubscribe: a running Run picks a new subscription up
// at once, backfill included.
func TestRunReconnectsOnSubscribe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newTestHub(t)
	a, b := backends()[1].open(t, "a"), backends()[1].open(t, "b")
	ra, rb := replicator(t, h, a, "t1"), replicator(t, h, b, "t1")
	writeSpread(t, a, "list/a", 5)
	old := write(t, a, "list/z/1", 1)
	syncOnce(t, ra)
	require.NoError(t, rb.Subscribe(ctx, "list/a/"))
	done := make(chan error, 1)
	go func() { done <- rb.Run(ctx) }()
	waitUntil := time.Now().Add(waitTimeout)
	for len(ledgerOf(t, b)) < 5 && time.Now().Before(waitUntil) {
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, rb.Subscribe(ctx, "list/z/"))
	waitFor(t, b, old[0].ID) // backfilled
	fresh := write(t, a, "list/z/2", 1)
	syncOnce(t, ra)
	waitFor(t, b, fresh[0].ID) // live
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	st, err := rb.Status(context.Background())
	require.NoError(t, err)
	assert.Empty(t, st.LastError, "a change of subscriptions is not an error")
}

// TestTenThousandSubscriptions: a device subscribed to 10,000 streams by
// name receives exactly their events, out of 20,000 streams.
func TestTenThousandSubscriptions(t *testing.T) {
	ctx := context.Background()
	h := newTestHub(t)
	a, b := backends()[0].open(t, "a"), backends()[0].open(t, "b")
	ra, rb := replicator(t, h, a, "t1"), replicator(t, h, b, "t1")
	var writes []eventstore.Write
	for i := range 20_000 {
		writes = append(writes, eventstore.Write{Stream: fmt.Sprintf("doc/%05d", i), Events: []eventstore.Event{{Type: "note:added", Data: []byte(`{}`)}}})
	}
	_, err := a.Append(ctx, writes...)
	require.NoError(t, err)
	syncOnce(t, ra)
	var subs []string
	for i := 0; i < 20_000; i += 2 {
		subs = append(subs, fmt.Sprintf("doc/%05d", i))
	}
	require.NoError(t, rb.Subscribe(ctx, subs...))
	syncOnce(t, rb)
	held := ledgerOf(t, b)
	require.Len(t, held, 10_000)
	for _, e := range held {
		var n int
		_, err := fmt.Sscanf(e.Stream, "doc/%05d", &n)
		require.NoError(t, err)
		require.Zero(t, n%2, "only subscribed streams: %s", e.Stream)
	}
}

// TestUnsubscribeKeepsUnpushed: offline, a device writes to a stream of a
// subscription, then removes that subscription (keeping what it holds, the
// default): the next sync still pushes its events, the device keeps them,
// and its digest agrees with the hub's for the new scope.
func TestUnsubscribeKeepsUnpushed(t *testing.T) {
	ctx := context.Background()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			h := newTestHub(t)
			a, b := be.open(t, "a"), be.open(t, "b")
			ra, rb := replicator(t, h, a, "t1"), replicator(t, h, b, "t1")
			writeSpread(t, a, "list/a", 5)
			writeSpread(t, a, "list/b", 5)
			syncOnce(t, ra)
			require.NoError(t, rb.Subscribe(ctx, "list/a/", "list/b/"))
			syncOnce(t, rb)
			writeSpread(t, b, "list/a", 3) // offline
			require.NoError(t, rb.Unsubscribe(ctx, "list/a/"))
			st := syncOnce(t, rb)
			assert.Equal(t, 3, st.Pushed, "unsubscribing does not keep a device's own events from the hub")
			assert.Nil(t, st.Repair)
			assert.Len(t, inScope(t, h.tenant("t1"), "list/a/"), 8)
			assert.Len(t, ledgerOf(t, b), 13, "it keeps what it held (10), its own events included (3)")
			status, err := rb.Status(ctx)
			require.NoError(t, err)
			var d eventstore.Digest
			for _, e := range inScope(t, h.tenant("t1"), "list/b/") {
				d.Add(e, e.Position)
			}
			assert.Equal(t, d.String(), status.Digest)
			assert.Nil(t, syncOnce(t, rb).Repair)
		})
	}
}
