package hub_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// An event stamped beyond the hub's drift tolerance is deferred, on a
// version-2 connection, with a hint that makes it acceptable when it comes
// back; nothing is stored; the events around it are. A version-1 client
// gets clock_drift, as before. Welcome carries the hub's time, and the hub
// lists each client with the app version it announced.
func TestPushTooEarlyDeferred(t *testing.T) {
	hubNow := time.Now().Add(-time.Minute) // the hub's clock, a minute behind this process
	h := memHarness(t, func(c *hub.Config) { c.Now = func() time.Time { return hubNow } })
	c := connectWith(t, h, token(t, "acme"), &protocol.Hello{Versions: protocol.Versions(), Client: "dev-new", App: "notes/2.0.0"})
	assert.Equal(t, protocol.Version, c.welcome.Version)
	assert.Equal(t, hubNow.UnixMilli(), c.welcome.Time)

	future := newEvent("task/2")
	future.Created = eventstore.TimestampOf(hubNow.Add(2 * time.Hour))
	ack := c.push("b1", newEvent("task/1"), future, newEvent("task/3"))
	r := ack.Results
	assert.EqualValues(t, 1, r[0].HubPosition)
	require.True(t, r[1].Deferred(), "%+v", r[1])
	assert.False(t, r[1].Rejected())
	assert.Equal(t, (110*time.Minute + time.Second).Milliseconds(), r[1].RetryAfterMS)
	assert.EqualValues(t, 2, r[2].HubPosition)
	assert.EqualValues(t, 2, head(t, h.stores.must(t, "acme")))

	// Stamped centuries ahead (a hostile or broken clock): still deferred,
	// with a hint the protocol carries (a day at most), never a negative
	// one that would make the client drop the whole Ack and loop.
	for _, far := range []eventstore.Timestamp{eventstore.MakeTimestamp(1<<47, 0), eventstore.Timestamp(^uint64(0))} {
		e := newEvent("task/4")
		e.Created = far
		r := c.push("b2", e).Results[0]
		require.True(t, r.Deferred(), "%+v", r)
		assert.Equal(t, int64(protocol.MaxRetryAfterMS), r.RetryAfterMS)
	}

	old := connectWith(t, h, token(t, "acme"), &protocol.Hello{Versions: []int{1}, Client: "dev-old", Agent: "ferry-client/0"})
	assert.Equal(t, 1, old.welcome.Version)
	assert.Zero(t, old.welcome.Time)
	ack = old.push("b1", future)
	assert.Equal(t, protocol.CodeClockDrift, ack.Results[0].Code)
	assert.Zero(t, ack.Results[0].RetryAfterMS)

	clients := h.srv.Clients()
	require.Len(t, clients, 2)
	assert.Equal(t, "dev-new", clients[0].Client)
	assert.Equal(t, "notes/2.0.0", clients[0].App)
	assert.Equal(t, protocol.Version, clients[0].Version)
	assert.Equal(t, "dev-old", clients[1].Client)
	assert.Equal(t, 1, clients[1].Version)
	assert.Equal(t, "acme", clients[1].Tenant)
}
