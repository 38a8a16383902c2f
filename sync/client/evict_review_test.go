package client_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReviewEvictHeldThenResubscribe (review of the eviction change): a
// stream kept for its unpushed events while the hub is away, its prefix
// subscribed again before the next sync: the backfill brings the evicted
// streams back, the kept one stays whole, the local events are pushed,
// and the digest holds (no repair, now or at the next sync).
func TestReviewEvictHeldThenResubscribe(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			h := newTestHub(t)
			a, b, ra, rb := evictPair(t, h, be)
			subscribeBoth(t, a, ra, rb, 14, 7)

			mine := write(t, b, "list/a/3", 3)
			require.NoError(t, rb.Unsubscribe(ctx, "list/a/"))
			syncHubDown(t, h, rb)
			require.Equal(t, 5, streamsOf(t, b)["list/a/3"])

			require.NoError(t, rb.Subscribe(ctx, "list/a/"))
			h.restart()
			writeSpread(t, a, "list/a", 3)
			syncOnce(t, ra)
			st := syncOnce(t, rb)
			assert.Nil(t, st.Repair)
			assert.Zero(t, st.Evicted)
			assert.Equal(t, 3, st.Pushed)
			assertAtHub(t, h, mine)
			requireHolds(t, rb, b, inScope(t, h.tenant("t1"), "list/a/", "list/b/"))
			assert.Nil(t, syncOnce(t, rb).Repair)
			assert.False(t, statusOf(t, rb).EvictDue)
		})
	}
}

// TestReviewEvictWhileProjectorsRun (review of the eviction change): the
// replicator's Run and both kinds of projectors (reset and replay; cleared
// by OnEvict) run while another device keeps writing to both lists and
// this one unsubscribes from one: once settled, both read models count
// exactly what the store holds.
func TestReviewEvictWhileProjectorsRun(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			h := newTestHub(t)
			a, b := be.open(t, "a"), be.open(t, "b")
			ra := replicator(t, h, a, "t1")
			rb, rebuilt, hooked := evictingProjected(t, h, b, nil)
			require.NoError(t, rb.Subscribe(ctx, "list/a/", "list/b/"))
			writeSpread(t, a, "list/a", 14)
			writeSpread(t, a, "list/b", 14)
			syncOnce(t, ra)
			syncOnce(t, rb)

			rctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			for _, run := range []func(context.Context) error{rb.Run, ra.Run, rebuilt.Run, hooked.Run} {
				wg.Go(func() { _ = run(rctx) })
			}
			for i := range 40 {
				writeSpread(t, a, "list/a", 7)
				writeSpread(t, a, "list/b", 7)
				if i == 20 {
					require.NoError(t, rb.Unsubscribe(ctx, "list/a/"))
				}
				time.Sleep(time.Millisecond)
			}
			require.Eventually(t, func() bool {
				return len(ledgerOf(t, h.tenant("t1"))) == 2*(14+40*7) && len(ledgerOf(t, b)) == len(inScope(t, h.tenant("t1"), "list/b/"))
			}, waitTimeout, 10*time.Millisecond)
			stop()
			wg.Wait()
			catchUp(t, rebuilt, hooked)
			held := streamsOf(t, b)
			require.Len(t, held, 7)
			assertCounts(t, b, held)
		})
	}
}
