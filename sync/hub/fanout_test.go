package hub_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/protocol"
)

// TestLiveSkipsUnconcernedConnections: a commit is sent at once to the
// live connections whose scope takes it and to the one that pushed it; a
// connection it does not concern gets nothing then, and its cursor moves
// past the commit with the next flush (an empty Live message, within about
// a second).
func TestLiveSkipsUnconcernedConnections(t *testing.T) {
	h := memHarness(t, nil)
	tok := token(t, "acme")
	lists := connect(t, h, tok, 0, "list/")
	notes := connect(t, h, tok, 0, "note/")
	pusher := connect(t, h, tok, 0, "none/")
	for _, c := range []*client{lists, notes, pusher} {
		c.catchUp()
	}
	ack := pusher.push("b1", newEvent("list/1"))
	acked := time.Now() // the commit was before the ack; the flush comes a second after it
	require.Empty(t, ack.Results[0].Code)
	pos := ack.Results[0].HubPosition

	// The pusher's cursor passes its own event, which is outside its scope.
	m := pusher.until(func(m protocol.Message) bool { _, ok := m.(*protocol.Live); return ok }).(*protocol.Live)
	assert.Empty(t, m.Events)
	assert.Equal(t, pos, m.Cursor)
	// list/ gets it at once.
	m = lists.until(func(m protocol.Message) bool { _, ok := m.(*protocol.Live); return ok }).(*protocol.Live)
	require.Len(t, m.Events, 1)
	// note/ gets an empty Live with the next flush, not at once.
	m = notes.until(func(m protocol.Message) bool { _, ok := m.(*protocol.Live); return ok }).(*protocol.Live)
	assert.Empty(t, m.Events)
	assert.Equal(t, pos, m.Cursor)
	assert.Greater(t, time.Since(acked), 300*time.Millisecond, "flushed later, not woken by the commit")
}
