package hub_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// TestLiveSkipsUnconcernedConnections: a commit is sent at once to the
// live connections whose scope takes it and to the one that pushed it; a
// connection it does not concern is not woken: with the flush that moves
// its cursor on put off, the first frame it gets is the next commit it
// wants, whose cursor passes both.
func TestLiveSkipsUnconcernedConnections(t *testing.T) {
	defer hub.SetSkipFlush(time.Hour)()
	h := memHarness(t, nil)
	tok := token(t, "acme")
	lists := connect(t, h, tok, 0, "list/")
	notes := connect(t, h, tok, 0, "note/")
	pusher := connect(t, h, tok, 0, "none/")
	for _, c := range []*client{lists, notes, pusher} {
		c.catchUp()
	}
	// The pullers park after CaughtUp: one that has not yet sees the
	// commit when it does, and moves its cursor at once.
	time.Sleep(100 * time.Millisecond)
	live := func(c *client) *protocol.Live {
		return c.until(func(m protocol.Message) bool { _, ok := m.(*protocol.Live); return ok }).(*protocol.Live)
	}
	sent := len(pusher.msgs)
	ack := pusher.push("b1", newEvent("list/1"))
	require.Empty(t, ack.Results[0].Code)
	first := ack.Results[0].HubPosition

	// The pusher's cursor passes its own event, outside its scope. Its
	// Live may come before the Ack (the puller is resumed as the insert
	// ends, before the pusher sends the Ack), and push reads past it.
	var m *protocol.Live
	for _, msg := range pusher.msgs[sent:] {
		if l, ok := msg.(*protocol.Live); ok && m == nil {
			m = l
		}
	}
	if m == nil {
		m = live(pusher)
	}
	assert.Empty(t, m.Events)
	assert.Equal(t, first, m.Cursor)
	// list/ gets it at once.
	m = live(lists)
	require.Len(t, m.Events, 1)
	assert.Equal(t, first, m.Cursor)

	ack = pusher.push("b2", newEvent("note/1"))
	second := ack.Results[0].HubPosition
	m = live(notes)
	require.Len(t, m.Events, 1, "the first frame note/ gets is the event it wants: the first commit did not wake it")
	assert.Equal(t, "note/1", m.Events[0].Stream)
	assert.Equal(t, second, m.Cursor)
}

// TestLiveFlushMovesSkippedCursors: a connection a commit skipped gets an
// empty Live with the flush, which moves its client's cursor past it.
func TestLiveFlushMovesSkippedCursors(t *testing.T) {
	defer hub.SetSkipFlush(10 * time.Millisecond)()
	h := memHarness(t, nil)
	tok := token(t, "acme")
	notes := connect(t, h, tok, 0, "note/")
	pusher := connect(t, h, tok, 0, "none/")
	notes.catchUp()
	pusher.catchUp()
	ack := pusher.push("b1", newEvent("list/1"))
	m := notes.until(func(m protocol.Message) bool { _, ok := m.(*protocol.Live); return ok }).(*protocol.Live)
	assert.Empty(t, m.Events)
	assert.Equal(t, ack.Results[0].HubPosition, m.Cursor)
}

// TestLiveFromAnotherNodeSkipsUnconcerned: commits another node made reach
// this node through its watcher, which reads them once and resumes only
// the live connections they concern (as for this node's own commits): the
// first frame note/ gets on node A is the note a device pushed through
// node B, not an empty Live for the list pushed before it.
func TestLiveFromAnotherNodeSkipsUnconcerned(t *testing.T) {
	defer hub.SetSkipFlush(time.Hour)()
	store := memory.New(eventstore.Config{Origin: "hub"})
	t.Cleanup(func() { _ = store.Close() })
	node := func(id string) *harness {
		return newHarness(t, nil, func(c *hub.Config) {
			c.NodeID = id
			c.Ledgers = hub.LedgerFunc(func(context.Context, string) (hub.Ledger, error) { return store, nil })
		})
	}
	a, b := node("a"), node("b")
	tok := token(t, "acme")
	pusher := connect(t, b, tok, 0, "none/")
	pusher.catchUp()
	first := pusher.push("b0", newEvent("list/0")).Results[0].HubPosition // the watchers learn a head
	lists := connect(t, a, tok, 0, "list/")
	notes := connect(t, a, tok, 0, "note/")
	lists.catchUp()
	notes.catchUp()
	live := func(c *client) *protocol.Live {
		return c.until(func(m protocol.Message) bool { _, ok := m.(*protocol.Live); return ok }).(*protocol.Live)
	}

	second := pusher.push("b1", newEvent("list/1")).Results[0].HubPosition
	m := live(lists)
	require.Len(t, m.Events, 1)
	assert.Equal(t, "list/1", m.Events[0].Stream)
	assert.Equal(t, second, m.Cursor)

	third := pusher.push("b2", newEvent("note/1")).Results[0].HubPosition
	m = live(notes)
	require.Len(t, m.Events, 1, "the first frame note/ gets is the event it wants: list/1 did not wake it")
	assert.Equal(t, "note/1", m.Events[0].Stream)
	assert.Equal(t, third, m.Cursor)
	assert.Less(t, first, second)
}
