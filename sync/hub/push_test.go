package hub_test

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

func TestPushAckIdempotent(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.open(t), nil)
			c := connect(t, h, token(t, "acme"), 0)
			events := newEvents(5, "task/1")
			ack := c.push("b1", events...)
			for i, r := range ack.Results {
				assert.Equal(t, events[i].ID, r.ID)
				assert.Equal(t, int64(i+1), r.HubPosition)
				assert.False(t, r.Duplicate)
				assert.False(t, r.Rejected())
			}

			// The ack was lost: the client re-sends the batch, plus one
			// new event. Same positions, nothing stored twice.
			more := append(append([]eventstore.Event(nil), events...), newEvent("task/1"))
			again := c.push("b1", more...)
			for i, r := range again.Results[:5] {
				assert.Equal(t, int64(i+1), r.HubPosition)
				assert.True(t, r.Duplicate)
			}
			assert.Equal(t, int64(6), again.Results[5].HubPosition)
			assert.False(t, again.Results[5].Duplicate)
			assert.Equal(t, int64(6), head(t, h.stores.must(t, "acme")))

			// The client's own events come back through the pull, once.
			c.waitPulled(6)
			requireHubOrder(t, c.pulled, 0)
			for i, e := range more {
				assert.Equal(t, e.ID, c.pulled[i].ID)
			}
			assert.Equal(t, int64(6), c.cursor)
		})
	}
}

func TestPushPerEventRejections(t *testing.T) {
	h := memHarness(t, nil)
	c := connect(t, h, token(t, "acme", "task/", "note/"), 0)
	future := newEvent("task/2")
	future.Created = eventstore.TimestampOf(time.Now().Add(24 * time.Hour))
	events := []eventstore.Event{newEvent("task/1"), newEvent("secret/1"), future, newEvent("note/1")}
	ack := c.push("b1", events...)
	r := ack.Results
	assert.Equal(t, int64(1), r[0].HubPosition)
	assert.Equal(t, protocol.CodeForbiddenStream, r[1].Code)
	assert.Zero(t, r[1].HubPosition)
	assert.Equal(t, protocol.CodeDeferred, r[2].Code, "deferred, not rejected")
	assert.NotEmpty(t, r[2].Reason)
	assert.Equal(t, int64(2), r[3].HubPosition)
	s := h.stores.must(t, "acme")
	assert.Equal(t, int64(2), head(t, s))
	for _, e := range events[1:3] {
		st, err := s.(eventstore.StatusReader).Status(context.Background(), e)
		require.NoError(t, err)
		assert.False(t, st.Exists, "rejected event stored")
	}
	// The connection keeps working.
	ack = c.push("b2", newEvent("task/3"))
	assert.Equal(t, int64(3), ack.Results[0].HubPosition)
}

func TestPing(t *testing.T) {
	h := memHarness(t, nil)
	c := connect(t, h, token(t, "acme"), 0)
	c.send(&protocol.Ping{Nonce: "n1"})
	m := c.until(func(m protocol.Message) bool { _, ok := m.(*protocol.Pong); return ok })
	assert.Equal(t, "n1", m.(*protocol.Pong).Nonce)
}

// A client that only reads stays connected across many ping intervals: its
// pongs keep the hub's read deadline moving.
func TestKeepaliveWithPongs(t *testing.T) {
	// These test clients answer pings only while they read, so the pong
	// deadline (two intervals) must cover a loaded machine's scheduling gaps
	// between reads; 12 pushes 200ms apart still span two ping cycles.
	h := memHarness(t, func(c *hub.Config) { c.PingInterval = time.Second })
	reader := connect(t, h, token(t, "acme"), 0)
	reader.catchUp()
	writer := connect(t, h, token(t, "acme"), 0)
	writer.catchUp()
	const pushes = 12
	for i := range pushes {
		writer.push(fmt.Sprint("b", i), newEvent("task/1"))
		reader.waitPulled(i + 1)
		time.Sleep(200 * time.Millisecond)
	}
	requireHubOrder(t, reader.pulled, 0)
}

// A hub whose stores register event types rejects unknown ones per event.
func TestPushUnknownTypeRejected(t *testing.T) {
	reg := eventstore.NewRegistry(eventstore.EventType{Name: "note:added"})
	stores := newTenantStores(t, func(string) (eventstore.Store, error) {
		return memory.New(eventstore.Config{Registry: reg, RefuseUnknown: true}), nil
	})
	h := newHarness(t, stores, nil)
	c := connect(t, h, token(t, "acme"), 0)
	odd := newEvent("task/1")
	odd.Type = "task:exploded"
	ack := c.push("b1", newEvent("task/1"), odd, newEvent("task/1"))
	assert.Equal(t, int64(1), ack.Results[0].HubPosition)
	assert.Equal(t, protocol.CodeUnknownType, ack.Results[1].Code)
	assert.Equal(t, int64(2), ack.Results[2].HubPosition)
	assert.Equal(t, int64(2), head(t, stores.must(t, "acme")))
}

// A pushed event whose ID is taken by a different stored event (here one
// outside the pusher's scope) is rejected, not acked as a duplicate: the
// pusher never learns where the other event sits in the ledger. A genuine
// re-send of the stored event is still acked with its position.
func TestPushIDTakenByAnotherEvent(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.open(t), nil)
			admin := connect(t, h, token(t, "acme"), 0)
			secret := newEvents(3, "secret/1")
			admin.push("a1", secret...)

			scoped := connect(t, h, token(t, "acme", "task/"), 0)
			forged := newEvent("task/1")
			forged.ID = secret[1].ID
			mine := newEvent("task/1")
			ack := scoped.push("s1", forged, mine)
			r := ack.Results
			assert.Equal(t, protocol.CodeInvalidEvent, r[0].Code)
			assert.Zero(t, r[0].HubPosition, "no position disclosed")
			assert.False(t, r[0].Duplicate)
			assert.Equal(t, int64(4), r[1].HubPosition)

			// Same stream, another type: also not a copy.
			retyped := secret[2]
			retyped.Type = "note:edited"
			assert.Equal(t, protocol.CodeInvalidEvent, admin.push("a2", retyped).Results[0].Code)

			// The writer's own re-send is a duplicate, acked as before.
			again := admin.push("a3", secret[1])
			assert.True(t, again.Results[0].Duplicate)
			assert.Equal(t, int64(2), again.Results[0].HubPosition)
			assert.Equal(t, int64(4), head(t, h.stores.must(t, "acme")))
		})
	}
}

// readCounter is a store that records the (after, limit) of every ReadAll.
type readCounter struct {
	eventstore.Store
	mu    sync.Mutex
	reads [][2]int64
}

func (r *readCounter) ReadAll(ctx context.Context, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	r.mu.Lock()
	r.reads = append(r.reads, [2]int64{after, int64(limit)})
	r.mu.Unlock()
	return r.Store.ReadAll(ctx, after, limit)
}

// A re-sent batch is checked against the stored events with one read of
// their run of positions, not one read per event.
func TestPushDuplicatesReadOnce(t *testing.T) {
	rc := &readCounter{Store: memory.New(eventstore.Config{Origin: "hub"})}
	stores := newTenantStores(t, func(string) (eventstore.Store, error) { return rc, nil })
	h := newHarness(t, stores, nil)
	c := connect(t, h, token(t, "acme"), 0)
	events := newEvents(300, "task/1")
	c.push("b1", events...)
	rc.mu.Lock()
	rc.reads = nil
	rc.mu.Unlock()

	again := c.push("b1", events...)
	for i, r := range again.Results {
		require.True(t, r.Duplicate)
		require.Equal(t, int64(i+1), r.HubPosition)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	checks := 0
	for _, r := range rc.reads {
		if r == [2]int64{0, 300} {
			checks++
		}
		assert.NotEqual(t, int64(1), r[1], "a read of a single event: %v", rc.reads)
	}
	assert.Equal(t, 1, checks, "reads: %v", rc.reads)
}
