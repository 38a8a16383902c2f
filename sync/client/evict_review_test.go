package client_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/client"
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
			a, b := be.open(t, "a"), be.open(t, "b")
			ra, rb := replicator(t, h, a, "t1"), replicator(t, h, b, "t1", evictOn)
			writeSpread(t, a, "list/a", 14)
			writeSpread(t, a, "list/b", 7)
			syncOnce(t, ra)
			require.NoError(t, rb.Subscribe(ctx, "list/a/", "list/b/"))
			syncOnce(t, rb)

			mine := write(t, b, "list/a/3", 3)
			require.NoError(t, rb.Unsubscribe(ctx, "list/a/"))
			h.stop()
			_, err := rb.SyncOnce(ctx)
			require.ErrorIs(t, err, client.ErrUnreachable)
			require.Equal(t, 5, streamsOf(t, b)["list/a/3"])

			require.NoError(t, rb.Subscribe(ctx, "list/a/"))
			h.restart()
			writeSpread(t, a, "list/a", 3)
			syncOnce(t, ra)
			st := syncOnce(t, rb)
			assert.Nil(t, st.Repair)
			assert.Zero(t, st.Evicted)
			assert.Equal(t, 3, st.Pushed)
			hubHas := ledgerOf(t, h.tenant("t1"))
			for _, e := range mine {
				assert.Contains(t, hubHas, e.ID)
			}
			requireHolds(t, rb, b, inScope(t, h.tenant("t1"), "list/a/", "list/b/"))
			assert.Nil(t, syncOnce(t, rb).Repair)
			status, err := rb.Status(ctx)
			require.NoError(t, err)
			assert.False(t, status.EvictDue)
		})
	}
}
