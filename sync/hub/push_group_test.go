package hub

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/sync/protocol"
)

// countingStore counts Insert calls.
type countingStore struct {
	eventstore.Store
	inserts int
}

func (s *countingStore) Insert(ctx context.Context, events ...eventstore.Event) ([]eventstore.InsertResult, error) {
	s.inserts++
	return s.Store.Insert(ctx, events...)
}

// groupConn returns a connection (without a socket) over a memory store
// that knows only the type "note:added", for a token limited to task/.
func groupConn(t *testing.T) (*conn, *countingStore) {
	reg := eventstore.NewRegistry(eventstore.EventType{Name: "note:added"})
	store := &countingStore{Store: memory.New(eventstore.Config{Registry: reg, RefuseUnknown: true})}
	t.Cleanup(func() { _ = store.Close() })
	s, err := New(Config{Ledgers: LedgerFunc(func(context.Context, string) (Ledger, error) { return store, nil }),
		Secret: []byte("0123456789abcdef0123456789abcdef")})
	require.NoError(t, err)
	c := newConn(s, nil, store, Claims{Tenant: "acme", Subject: "d", Streams: []string{"task/"}}, "test")
	t.Cleanup(c.cancel)
	return c, store
}

func groupEvent(stream string) protocol.Event {
	return protocol.Event{ID: eventstore.NewID(), Stream: stream, Type: "note:added",
		Data: []byte(`{"n":1}`), Created: protocol.Timestamp(eventstore.TimestampOf(time.Now())), Origin: "dev-1"}
}

// acks reads n queued Acks.
func acks(t *testing.T, c *conn, n int) []*protocol.Ack {
	out := make([]*protocol.Ack, n)
	for i := range out {
		select {
		case f := <-c.queue:
			m, err := protocol.Decode(f.frame, protocol.Limits{})
			require.NoError(t, err)
			out[i] = m.(*protocol.Ack)
		default:
			t.Fatalf("ack %d not queued", i)
		}
	}
	require.Empty(t, c.queue)
	return out
}

// Pushes waiting together are stored in one Insert and acked in order,
// each exactly as if stored alone: an ID repeated in a later push is a
// duplicate of its first position.
func TestPushGroupOneInsert(t *testing.T) {
	c, store := groupConn(t)
	a, b := groupEvent("task/1"), groupEvent("task/2")
	require.True(t, c.push([]*protocol.Push{
		{Batch: "b1", Events: []protocol.Event{a}},
		{Batch: "b2", Events: []protocol.Event{a, b}},
	}))
	assert.Equal(t, 1, store.inserts)
	got := acks(t, c, 2)
	assert.Equal(t, "b1", got[0].Batch)
	assert.Equal(t, []protocol.AckResult{{ID: a.ID, HubPosition: 1}}, got[0].Results)
	assert.Equal(t, "b2", got[1].Batch)
	assert.Equal(t, []protocol.AckResult{{ID: a.ID, HubPosition: 1, Duplicate: true}, {ID: b.ID, HubPosition: 2}}, got[1].Results)
	h, err := store.Head(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(2), h)
}

// A rejected event in a group rejects only itself: the other pushes are
// stored whole, the refused push event by event.
func TestPushGroupRejection(t *testing.T) {
	c, store := groupConn(t)
	a, b, d, e := groupEvent("task/1"), groupEvent("task/1"), groupEvent("task/2"), groupEvent("task/3")
	odd := groupEvent("task/1")
	odd.Type = "task:exploded"
	secret := groupEvent("secret/1")
	require.True(t, c.push([]*protocol.Push{
		{Batch: "b1", Events: []protocol.Event{a, b}},
		{Batch: "b2", Events: []protocol.Event{d, odd, a}},
		{Batch: "b3", Events: []protocol.Event{secret, e}},
	}))
	// The group, then b1, b2 (refused), b2's events one by one, b3.
	assert.Equal(t, 1+1+1+3+1, store.inserts)
	got := acks(t, c, 3)
	assert.Equal(t, []protocol.AckResult{{ID: a.ID, HubPosition: 1}, {ID: b.ID, HubPosition: 2}}, got[0].Results)
	r := got[1].Results
	assert.Equal(t, protocol.AckResult{ID: d.ID, HubPosition: 3}, r[0])
	assert.Equal(t, protocol.CodeUnknownType, r[1].Code)
	assert.Zero(t, r[1].HubPosition)
	assert.Equal(t, protocol.AckResult{ID: a.ID, HubPosition: 1, Duplicate: true}, r[2])
	r = got[2].Results
	assert.Equal(t, protocol.CodeForbiddenStream, r[0].Code)
	assert.Equal(t, protocol.AckResult{ID: e.ID, HubPosition: 4}, r[1])
	h, err := store.Head(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(4), h)
}
