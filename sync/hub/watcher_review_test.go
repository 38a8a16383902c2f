package hub_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// TestReviewOwnCommitsSkipUnconcerned: this node's commits resume only the
// connections they concern, every time. The watcher, woken by the store
// for the same commit, can take the log's lock before the insert's end
// does: it then saw a head this node had not announced yet, with an
// insert in progress, and resumed every parked connection. Over 300 pushes
// to list/ the connection pulling note/ must not get a single frame
// before the note it wants (the flush is put off).
func TestReviewOwnCommitsSkipUnconcerned(t *testing.T) {
	defer hub.SetSkipFlush(time.Hour)()
	h := memHarness(t, nil)
	tok := token(t, "acme")
	notes := connect(t, h, tok, 0, "note/")
	pusher := connect(t, h, tok, 0, "none/")
	notes.catchUp()
	pusher.catchUp()
	time.Sleep(100 * time.Millisecond) // the pullers park after CaughtUp
	for i := range 300 {
		ack := pusher.push(fmt.Sprint("l", i), newEvent(fmt.Sprint("list/", i)))
		require.Empty(t, ack.Results[0].Code)
	}
	ack := pusher.push("n", newEvent("note/1"))
	m := notes.until(func(m protocol.Message) bool { _, ok := m.(*protocol.Live); return ok }).(*protocol.Live)
	require.Len(t, m.Events, 1, "note/ was resumed by a commit to list/ (an empty Live to cursor %d)", m.Cursor)
	require.Equal(t, ack.Results[0].HubPosition, m.Cursor)
}
