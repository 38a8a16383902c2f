package hub_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// ledgerDigest returns the digest of every event of l up to its head.
func ledgerDigest(t testing.TB, l hub.Ledger) string {
	t.Helper()
	var d eventstore.Digest
	for e, err := range l.ReadAll(context.Background(), 0, 0) {
		require.NoError(t, err)
		d.Add(e, e.Position)
	}
	return d.String()
}

// Inspect lists the tenants with their heads, connections and rejections;
// InspectTenant shows a tenant's devices with their cursors and lag, its
// latest events, its rejections with their reasons, and its digest.
func TestInspect(t *testing.T) {
	ctx := context.Background()
	h := memHarness(t, nil)
	pusher := connectWith(t, h, token(t, "acme", "task/"), &protocol.Hello{Versions: []int{protocol.Version}, Client: "phone"})
	pusher.catchUp()
	events := newEvents(3, "task/1")
	events = append(events, newEvent("secret/1"))
	ack := pusher.push("b1", events...)
	require.Equal(t, protocol.CodeForbiddenStream, ack.Results[3].Code)
	reader := connectWith(t, h, token(t, "acme"), &protocol.Hello{Versions: []int{protocol.Version}, Client: "laptop"})
	reader.waitPulled(3)
	connectWith(t, h, token(t, "other"), &protocol.Hello{Versions: []int{protocol.Version}, Client: "tablet"}).catchUp()

	snap := h.srv.Inspect(ctx)
	assert.Equal(t, "test", snap.Node)
	assert.Equal(t, 3, snap.Connections)
	require.Len(t, snap.Tenants, 2)
	acme := snap.Tenants[0]
	assert.Equal(t, "acme", acme.Tenant)
	assert.True(t, acme.Open)
	assert.Equal(t, 2, acme.Connections)
	assert.Equal(t, int64(3), acme.Head)
	assert.Equal(t, int64(1), acme.Rejections)
	assert.Equal(t, "other", snap.Tenants[1].Tenant)

	var ts hub.TenantSnapshot
	require.Eventually(t, func() bool { // the cursors move as the pullers send
		var err error
		ts, err = h.srv.InspectTenant(ctx, "acme", 2)
		require.NoError(t, err)
		return len(ts.Devices) == 2 && ts.Devices[0].Cursor == 3 && ts.Devices[1].Cursor == 3 &&
			ts.Devices[0].Live // set just after CaughtUp is sent: the cursor can get there first
	}, ioTimeout, 10*time.Millisecond)
	assert.Equal(t, int64(3), ts.Head)
	assert.Equal(t, ledgerDigest(t, h.stores.must(t, "acme")), ts.Digest)
	gen, gerr := h.stores.must(t, "acme").(hub.GenerationLedger).Generation(t.Context())
	require.NoError(t, gerr)
	assert.Equal(t, gen, ts.Generation, "the ledger's generation")
	laptop, phone := ts.Devices[0], ts.Devices[1]
	assert.Equal(t, "laptop", laptop.Client)
	assert.Equal(t, "phone", phone.Client)
	assert.Equal(t, "device-1", phone.Subject)
	assert.Equal(t, "test", phone.Node)
	assert.Zero(t, laptop.Lag)
	assert.True(t, laptop.Live)
	assert.Equal(t, int64(4), phone.Pushed)
	assert.Equal(t, int64(1), phone.Rejected)
	assert.Zero(t, laptop.Pushed)
	assert.False(t, phone.LastSeen.IsZero())
	require.Len(t, ts.Events, 2)
	assert.Equal(t, []int64{3, 2}, []int64{ts.Events[0].Position, ts.Events[1].Position})
	assert.Equal(t, events[2].ID, ts.Events[0].ID)
	assert.Equal(t, "note:added", ts.Events[0].Type)
	assert.Equal(t, "dev-1", ts.Events[0].Origin)
	assert.Equal(t, events[2].Created.Time().UTC(), ts.Events[0].Created)
	require.Len(t, ts.Rejections, 1)
	r := ts.Rejections[0]
	assert.Equal(t, protocol.CodeForbiddenStream, r.Code)
	assert.Equal(t, "stream outside the token's scope", r.Reason)
	assert.Equal(t, events[3].ID, r.ID)
	assert.Equal(t, "secret/1", r.Stream)
	assert.Equal(t, "phone", r.Client)
	assert.False(t, r.Deferred)
	assert.Equal(t, int64(1), ts.RejectionsTotal)

	// A device resuming behind the head: its lag is the head minus the
	// cursor the hub has sent it up to.
	connectWith(t, h, token(t, "acme"), &protocol.Hello{Versions: []int{protocol.Version}, Client: "old", Cursor: 1})
	ts, err := h.srv.InspectTenant(ctx, "acme", 0)
	require.NoError(t, err)
	require.Len(t, ts.Events, 3, "the default limit covers the whole ledger")
	require.Len(t, ts.Devices, 3)
	for _, d := range ts.Devices {
		assert.Equal(t, ts.Head-d.Cursor, d.Lag, d.Client)
		assert.GreaterOrEqual(t, d.Cursor, int64(1), d.Client)
	}
}

// InspectTenant refuses a tenant the node does not serve, without opening
// its store, and a limit out of range.
func TestInspectTenantBadInput(t *testing.T) {
	ctx := context.Background()
	h := memHarness(t, nil)
	connect(t, h, token(t, "acme"), 0).catchUp()

	_, err := h.srv.InspectTenant(ctx, "nobody", 10)
	require.ErrorIs(t, err, hub.ErrUnknownTenant)
	assert.NotContains(t, h.stores.Tenants(), "nobody", "inspecting must not open a store")
	for _, limit := range []int{-1, hub.MaxInspectEvents + 1} {
		_, err := h.srv.InspectTenant(ctx, "acme", limit)
		require.Error(t, err, "limit %d", limit)
		assert.False(t, errors.Is(err, hub.ErrUnknownTenant))
	}
	_, err = h.srv.InspectTenant(ctx, "acme", hub.MaxInspectEvents)
	require.NoError(t, err)
}

// genStore is a ledger that knows its generation.
type genStore struct {
	eventstore.Store
	gen string
}

func (g genStore) Generation(context.Context) (string, error) { return g.gen, nil }

// A ledger with a generation has it reported; Ledgers that do not list
// tenants still show the connected ones.
func TestInspectGeneration(t *testing.T) {
	ctx := context.Background()
	store := genStore{Store: memory.New(eventstore.Config{Origin: "hub"}), gen: "gen-42"}
	t.Cleanup(func() { _ = store.Close() })
	srv, err := hub.New(hub.Config{Secret: testSecret, NodeID: "n1",
		Ledgers: hub.LedgerFunc(func(context.Context, string) (hub.Ledger, error) { return store, nil })})
	require.NoError(t, err)
	h := &harness{srv: srv, ts: httptest.NewServer(srv.Handler())}
	t.Cleanup(func() {
		_ = srv.Shutdown(ctx)
		h.ts.Close()
	})
	connect(t, h, token(t, "acme"), 0).catchUp()

	snap := srv.Inspect(ctx)
	require.Len(t, snap.Tenants, 1)
	assert.False(t, snap.Tenants[0].Open, "LedgerFunc does not list open tenants")
	ts, err := srv.InspectTenant(ctx, "acme", 5)
	require.NoError(t, err)
	assert.Equal(t, "gen-42", ts.Generation)
	assert.Equal(t, (&eventstore.Digest{}).String(), ts.Digest)
	assert.Empty(t, ts.Events)
}

// The rejection ring keeps a tenant's latest rejections, the latest
// first, and counts them all.
func TestInspectRejectionRing(t *testing.T) {
	ctx := context.Background()
	h := memHarness(t, nil)
	c := connect(t, h, token(t, "acme", "task/"), 0)
	c.catchUp()
	const n = 40
	var last string
	for i := range n {
		e := newEvent(fmt.Sprint("secret/", i))
		last = e.ID
		c.push(fmt.Sprint("b", i), e)
	}
	ts, err := h.srv.InspectTenant(ctx, "acme", 1)
	require.NoError(t, err)
	assert.Equal(t, int64(n), ts.RejectionsTotal)
	require.Len(t, ts.Rejections, 32)
	assert.Equal(t, last, ts.Rejections[0].ID)
	assert.Equal(t, "secret/39", ts.Rejections[0].Stream)
	assert.Equal(t, "secret/8", ts.Rejections[31].Stream)
}

// A tenant whose devices have gone but whose store the pool still holds
// open is listed idle, without a head read, and can still be inspected.
func TestInspectIdleTenant(t *testing.T) {
	ctx := context.Background()
	h := memHarness(t, nil)
	c := connect(t, h, token(t, "acme"), 0)
	c.catchUp()
	c.push("b1", newEvent("task/1"))
	require.NoError(t, c.ws.Close())
	require.Eventually(t, func() bool { return h.srv.Inspect(ctx).Connections == 0 }, ioTimeout, 10*time.Millisecond)

	snap := h.srv.Inspect(ctx)
	require.Len(t, snap.Tenants, 1)
	acme := snap.Tenants[0]
	assert.True(t, acme.Idle)
	assert.True(t, acme.Open)
	assert.Zero(t, acme.Connections)
	assert.Zero(t, acme.Head, "an idle tenant's head is not read")
	ts, err := h.srv.InspectTenant(ctx, "acme", 10)
	require.NoError(t, err)
	assert.Equal(t, int64(1), ts.Head)
	assert.Empty(t, ts.Devices)
	assert.Zero(t, ts.DevicesTotal)
	require.Len(t, ts.Events, 1)
}
