package synctest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/synctest"
)

// waitForEvent waits until s holds the event id, or fails the test.
func waitForEvent(t testing.TB, s eventstore.Store, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, synctest.WaitForEvent(ctx, s, id))
}

// waitForHead waits until s holds n events, or fails the test.
func waitForHead(t testing.TB, s eventstore.Store, n int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var head int64
	for head < n {
		var err error
		head, err = s.Wait(ctx, head)
		require.NoError(t, err, "store stuck at %d of %d events", head, n)
	}
}

// Two syncd processes share one PostgreSQL schema: an event pushed through
// node 1 reaches a live client of node 2; concurrent pushes through both
// nodes build one gap-free ledger that fresh readers on either node pull
// identically.
func TestTwoSyncdNodesOnePostgres(t *testing.T) {
	url := synctest.PostgresURL(t)
	schema := synctest.FreshSchema(t)
	args := func(node string) []string {
		return []string{"--data-dir", t.TempDir(), "--postgres", url, "--postgres-schema", schema, "--node-id", node}
	}
	n1 := startSyncd(t, nil, args("n1")...)
	n2 := startSyncd(t, nil, args("n2")...)

	// A live client on node 2.
	live := openClientStore(t, "live")
	liveRep := replicator(t, live, n2.URL(), token(t, "acme", "live"))
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- liveRep.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-runDone
	})

	// A client of node 1 writes; the live client sees it.
	w1 := openClientStore(t, "writer-1")
	first, err := w1.Append(context.Background(), noteWrites("note/first", 1, 10)...)
	require.NoError(t, err)
	syncOnce(t, replicator(t, w1, n1.URL(), token(t, "acme", "writer-1")))
	waitForEvent(t, live, first[0].ID)

	// Concurrent pushes: two writers per node, pipelined small batches.
	per := map[bool]int{false: 2000, true: 600}[raceEnabled]
	writers := make([]eventstore.Store, 4)
	var wg sync.WaitGroup
	errs := make([]error, len(writers))
	start := time.Now()
	for i := range writers {
		s := openClientStore(t, fmt.Sprintf("pusher-%d", i))
		appendNotes(t, s, fmt.Sprintf("p%d", i), per, 20)
		writers[i] = s
		node := []string{n1.URL(), n2.URL()}[i%2]
		r := replicator(t, s, node, token(t, "acme", fmt.Sprintf("pusher-%d", i)), func(c *client.Config) { c.BatchSize = 25 })
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*waitTimeout)
			defer cancel()
			_, errs[i] = r.SyncOnce(ctx)
		})
	}
	wg.Wait()
	t.Logf("concurrent pushes done in %s", time.Since(start).Round(time.Millisecond))
	for i, err := range errs {
		require.NoError(t, err, "pusher %d", i)
	}
	total := 1 + len(writers)*per

	// Fresh readers, one per node, pull the whole ledger.
	var orders [][]eventstore.Event
	for i, node := range []string{n1.URL(), n2.URL()} {
		s := openClientStore(t, fmt.Sprintf("reader-%d", i))
		syncOnce(t, replicator(t, s, node, token(t, "acme", fmt.Sprintf("reader-%d", i))))
		events := ledger(t, s)
		require.Len(t, events, total, "reader %d", i)
		require.NoError(t, synctest.CheckHubOrder(events), "reader %d: hub positions 1..n", i)
		orders = append(orders, events)
	}
	for i := range orders[0] {
		require.Equal(t, orders[0][i].ID, orders[1][i].ID, "readers agree at hub position %d", i+1)
	}

	// The live client got everything too, in the same order.
	waitForHead(t, live, int64(total))
	liveEvents := ledger(t, live)
	require.NoError(t, synctest.CheckHubOrder(liveEvents))
	for i := range liveEvents {
		require.Equal(t, orders[0][i].ID, liveEvents[i].ID, "live client at hub position %d", i+1)
	}
	var want []eventstore.Event
	want = append(want, first...)
	for _, s := range writers {
		for _, e := range ledger(t, s) {
			if !e.Hydrated {
				want = append(want, e)
			}
		}
	}
	assert.Equal(t, sortedIDs(want), sortedIDs(orders[0]), "every pushed event, once")
	st, err := liveRep.Status(context.Background())
	require.NoError(t, err)
	assert.True(t, st.Online)
}
