package hub_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// TestMultiNodePostgres runs two hub nodes, each with its own connection
// pool, on one PostgreSQL schema: a push through one node reaches live
// clients of the other, and concurrent pushes through both produce one
// gap-free ledger that readers on either node agree on.
func TestMultiNodePostgres(t *testing.T) {
	schema := testSchema(t)
	node := func(id string) *harness {
		db := openPostgres(t, schema)
		stores := newTenantStores(t, func(tenant string) (eventstore.Store, error) {
			return db.Store(tenant, eventstore.Config{})
		})
		return newHarness(t, stores, func(c *hub.Config) { c.NodeID = id; c.Ready = db.Pool().Ping })
	}
	a, b := node("node-a"), node("node-b")

	onA := connect(t, a, token(t, "acme"), 0)
	onA.catchUp()
	onB := connect(t, b, token(t, "acme"), 0)
	onB.catchUp()
	assert.Equal(t, "node-b", onB.welcome.Node)

	first := newEvent("task/1")
	ack := onA.push("first", first)
	assert.Equal(t, int64(1), ack.Results[0].HubPosition)
	onB.waitPulled(1)
	assert.Equal(t, first.ID, onB.pulled[0].ID)
	assert.Equal(t, int64(1), onB.pulled[0].HubPosition)

	// Concurrent pushes through both nodes, pipelined.
	const batches, size = 10, 20
	for i := range batches {
		onA.send(&protocol.Push{Batch: fmt.Sprint("a", i), Events: wire(newEvents(size, "task/a"))})
		onB.send(&protocol.Push{Batch: fmt.Sprint("b", i), Events: wire(newEvents(size, "task/b"))})
	}
	positions := map[int64]bool{}
	for _, c := range []*client{onA, onB} {
		for range batches {
			m := c.until(func(m protocol.Message) bool { _, ok := m.(*protocol.Ack); return ok })
			for _, r := range m.(*protocol.Ack).Results {
				require.False(t, r.Rejected())
				require.False(t, positions[r.HubPosition], "position %d acked twice", r.HubPosition)
				positions[r.HubPosition] = true
			}
		}
	}
	total := 1 + 2*batches*size
	for p := int64(2); p <= int64(total); p++ {
		require.True(t, positions[p], "position %d never acked", p)
	}
	onA.waitPulled(total)
	onB.waitPulled(total)
	requireHubOrder(t, onA.pulled, 0)
	requireHubOrder(t, onB.pulled, 0)
	for i := range onA.pulled {
		require.Equal(t, onA.pulled[i].ID, onB.pulled[i].ID)
	}

	// A late reader on either node catches up to the same ledger.
	late := connect(t, b, token(t, "acme"), 0)
	late.catchUp()
	require.Len(t, late.pulled, total)
	for i := range late.pulled {
		require.Equal(t, onA.pulled[i].ID, late.pulled[i].ID)
	}
	assert.Equal(t, 200, testutil.HTTPStatus(t, a.ts.URL+"/readyz"))
}
