package hub_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/sync/hub/tenants"
)

// With room for one open store, a tenant with a live connection keeps its
// store while other tenants come and go; once every connection has ended
// the pool is back under its bound, and a tenant whose store was closed
// serves its events again.
func TestHubReleasesPooledStores(t *testing.T) {
	dir := t.TempDir()
	stores := newTenantPool(t, 1, func(tenant string) (eventstore.Store, error) {
		return sqlite.Open(context.Background(), filepath.Join(dir, tenants.File(tenant)),
			sqlite.Options{Config: eventstore.Config{Origin: "hub"}})
	})
	h := newHarness(t, stores, nil)

	live := connect(t, h, token(t, "acme"), 0)
	live.catchUp()
	for _, tenant := range []string{"globex", "initech", "umbrella"} {
		c := connect(t, h, token(t, tenant), 0)
		c.catchUp()
		c.push("b1", newEvent("task/1"))
		require.NoError(t, c.ws.Close())
	}
	// acme's store was never closed under its live connection.
	ack := live.push("b1", newEvent("task/1"), newEvent("task/2"))
	assert.Equal(t, int64(2), ack.Results[1].HubPosition)
	live.waitPulled(2)
	require.NoError(t, live.ws.Close())

	require.Eventually(t, func() bool { return stores.Open() <= 1 }, 10*time.Second, 5*time.Millisecond)
	for _, tenant := range []string{"globex", "acme"} {
		c := connect(t, h, token(t, tenant), 0)
		c.catchUp()
		assert.NotEmpty(t, c.pulled, tenant)
		requireHubOrder(t, c.pulled, 0)
	}
}
