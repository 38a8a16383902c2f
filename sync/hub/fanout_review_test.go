package hub_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
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

// slowWaitLedger delays Wait's answers, as a node whose LISTEN/NOTIFY is
// a moment behind another node's commit.
type slowWaitLedger struct {
	hub.Ledger
	delay time.Duration
}

func (l slowWaitLedger) Wait(ctx context.Context, after int64) (int64, error) {
	h, err := l.Ledger.Wait(ctx, after)
	if err == nil {
		select {
		case <-time.After(l.delay):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return h, err
}

// TestReviewDuplicateAckedAheadOfNodeHead: as
// TestReviewDuplicatePushMovesPusherCursor, but the event was stored
// through another node a moment before and the pusher's node has not
// learned that commit yet when it acks the duplicate. When its watcher
// learns it, the commit does not concern the pusher's scope, so nothing
// resumes the connection but the flush (put off here; 1 s otherwise).
func TestReviewDuplicateAckedAheadOfNodeHead(t *testing.T) {
	defer hub.SetSkipFlush(time.Hour)()
	store := memory.New(eventstore.Config{Origin: "hub"})
	t.Cleanup(func() { _ = store.Close() })
	a := newHarness(t, nil, func(c *hub.Config) {
		c.NodeID = "a"
		c.Ledgers = hub.LedgerFunc(func(context.Context, string) (hub.Ledger, error) {
			return slowWaitLedger{store, 300 * time.Millisecond}, nil
		})
	})
	b := newHarness(t, nil, func(c *hub.Config) {
		c.NodeID = "b"
		c.Ledgers = hub.LedgerFunc(func(context.Context, string) (hub.Ledger, error) { return store, nil })
	})
	tok := token(t, "acme")
	first := connect(t, b, tok, 0, "none/")
	retry := connect(t, a, tok, 0, "none/")
	first.catchUp()
	retry.catchUp()
	seedPos := first.push("b0", newEvent("none/0")).Results[0].HubPosition
	for retry.cursor < seedPos { // node a's watcher has learned a head
		_, err := retry.recv()
		require.NoError(t, err)
	}
	time.Sleep(100 * time.Millisecond) // retry's puller parks again

	e := newEvent("list/1")
	ack := first.push("b1", e)
	pos := ack.Results[0].HubPosition
	ack = retry.push("b1", e) // before node a learns pos
	require.True(t, ack.Results[0].Duplicate)
	require.Equal(t, pos, ack.Results[0].HubPosition)
	deadline := time.AfterFunc(3*time.Second, func() { _ = retry.ws.Close() })
	defer deadline.Stop()
	for retry.cursor < pos {
		_, err := retry.recv()
		require.NoError(t, err, "the pusher's cursor did not pass its acked position %d in 3 s", pos)
	}
}
