package client_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReviewEvictBeforeRestoreCheck (review of the eviction change): the
// hub's ledger is restored from a backup that lacks an event b wrote and
// the old hub acknowledged. b then unsubscribes from its stream and syncs:
// a device that sees a head below its cursor re-pushes what the hub lost
// (DESIGN.md, "Replicas prove agreement"). An eviction that ran before the
// session found out would remove the only copy left (the bug this test
// found): eviction now waits until the session has checked the hub's copy
// of the ledger, so the event is pushed again, then evicted.
func TestReviewEvictBeforeRestoreCheck(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			h := newTestHub(t)
			hf := newHubFile(t, h, "t1")
			a, b, ra, rb := evictPair(t, h, be)
			subscribeBoth(t, a, ra, rb, 14, 14)
			backup := filepath.Join(t.TempDir(), "backup.db")
			hf.offline("t1", func() { copyFile(t, hf.path, backup) })

			mine := write(t, b, "list/a/3", 1)
			require.Equal(t, 1, syncOnce(t, rb).Pushed, "acknowledged by the hub")
			hf.offline("t1", func() { copyFile(t, backup, hf.path) }) // the hub loses it

			require.NoError(t, rb.Unsubscribe(ctx, "list/a/"))
			syncOnce(t, rb)
			syncOnce(t, rb)
			_, atHub := ledgerOf(t, h.tenant("t1"))[mine[0].ID]
			_, onB := ledgerOf(t, b)[mine[0].ID]
			assert.True(t, atHub || onB, "b's acknowledged event, which the restored hub lost, is gone from every replica")
		})
	}
}
