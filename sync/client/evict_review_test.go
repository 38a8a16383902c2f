package client_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
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
			rebuilt, hooked := countsProjector(t, b, "rebuilt", true), countsProjector(t, b, "hooked", false)
			ra := replicator(t, h, a, "t1")
			rb := replicator(t, h, b, "t1", func(c *client.Config) {
				c.Evict = true
				c.Projectors = []client.Projector{rebuilt, hooked}
				c.OnEvict = func(ctx context.Context, tx eventstore.Tx, streams []string) error {
					kv := eventstore.KeyValuesOf(tx)
					m, err := perStream(ctx, kv, "hooked")
					if err != nil {
						return err
					}
					for _, s := range streams {
						delete(m, s)
					}
					return setPerStream(ctx, kv, "hooked", m)
				}
			})
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
			for _, p := range []*projector.Projector{rebuilt, hooked} {
				_, err := p.CatchUp(ctx)
				require.NoError(t, err)
			}
			held := streamsOf(t, b)
			require.Len(t, held, 7)
			for _, key := range []string{"rebuilt", "hooked"} {
				got, err := perStream(ctx, b, key)
				require.NoError(t, err)
				assert.Equal(t, held, got, key)
			}
		})
	}
}
