package hub_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/hub"
)

// TestReviewDuplicatePushMovesPusherCursor: a client's push is acked with
// the position of an event another connection stored a moment before (a
// retry of a push whose ack was lost, say), on a stream its pull scope
// does not take. The commit skipped its connection (not concerned), and
// the duplicate stores nothing, so nothing resumes it: its client, which
// finishes a sync once its cursor passes its acked positions, waits for
// the flush (skipFlush, 1 s; put off here).
func TestReviewDuplicatePushMovesPusherCursor(t *testing.T) {
	defer hub.SetSkipFlush(time.Hour)()
	h := memHarness(t, nil)
	tok := token(t, "acme")
	first := connect(t, h, tok, 0, "none/")
	retry := connect(t, h, tok, 0, "none/")
	first.catchUp()
	retry.catchUp()
	time.Sleep(100 * time.Millisecond) // retry's puller parks after CaughtUp

	e := newEvent("list/1")
	ack := first.push("b1", e)
	require.Empty(t, ack.Results[0].Code)
	pos := ack.Results[0].HubPosition

	ack = retry.push("b1", e)
	require.True(t, ack.Results[0].Duplicate)
	require.Equal(t, pos, ack.Results[0].HubPosition)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = retry.ws.Close()
		}
	}()
	for retry.cursor < pos {
		_, err := retry.recv()
		require.NoError(t, err, "the pusher's cursor did not pass its acked position %d in 3 s", pos)
	}
}
