package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// TestEvictedHeadSurvivesReopen: after the ledger's last events are
// evicted, a reopened file still reports the head they left and numbers
// new events after it.
func TestEvictedHeadSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	s := open(t, path, Options{})
	appendN(t, s, "a", 1)
	last := appendN(t, s, "z", 2)
	acks := []eventstore.HubAck{{ID: last[0].ID, HubPosition: 1}, {ID: last[1].ID, HubPosition: 2}}
	require.NoError(t, s.Update(ctx, func(tx eventstore.Tx) error {
		if err := tx.(*Tx).SetHubPositions(ctx, acks...); err != nil {
			return err
		}
		_, err := tx.(*Tx).Evict(ctx, "z")
		return err
	}))
	require.NoError(t, s.Close())

	again := open(t, path, Options{})
	h, err := again.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), h)
	next := appendN(t, again, "a", 1)
	assert.Equal(t, int64(4), next[0].Position)
	require.NoError(t, again.Close())

	third := open(t, path, Options{})
	assert.Zero(t, third.evictedHead.Load(), "the ledger is past the evicted head: inserts cost nothing extra")
}
