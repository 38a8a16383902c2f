package client

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/sync/protocol"
)

// Full jitter: attempt n waits at most min(Max, Initial·2ⁿ), never less
// than the hub's hint, and the bound stops growing at Max.
func TestBackoff(t *testing.T) {
	s := memory.New(eventstore.Config{Origin: "d"})
	t.Cleanup(func() { _ = s.Close() })
	r, err := New(s, Config{URL: "ws://h/sync", Backoff: Backoff{Initial: 10 * time.Millisecond, Max: 300 * time.Millisecond}})
	require.NoError(t, err)
	for n := range 100 {
		bound := min(300*time.Millisecond, 10*time.Millisecond<<min(n, 20))
		var top time.Duration
		for range 200 {
			d := r.backoff(n, 0)
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.LessOrEqual(t, d, bound, "attempt %d", n)
			top = max(top, d)
		}
		assert.Greater(t, top, bound/4, "attempt %d: delays spread up to the bound", n)
		assert.GreaterOrEqual(t, r.backoff(n, 2*time.Second), 2*time.Second, "hint honoured")
	}
}

func TestMinLimits(t *testing.T) {
	hub := minLimits(limits(0, 0, 0), limits(1000, 0, 5))
	assert.Equal(t, 1000, hub.MaxFrameBytes)
	assert.Equal(t, 500, hub.MaxEventsPerBatch)
	assert.Equal(t, 5, hub.MaxEventBytes)
	hub = minLimits(limits(2000, 10, 0), limits(1<<30, 100, 0))
	assert.Equal(t, 2000, hub.MaxFrameBytes)
	assert.Equal(t, 10, hub.MaxEventsPerBatch)
}

func limits(frame, events, event int) protocol.Limits {
	return protocol.Limits{MaxFrameBytes: frame, MaxEventsPerBatch: events, MaxEventBytes: event}
}

// The hub's retry hints are found in protocol errors and HTTP answers.
func TestRetryHint(t *testing.T) {
	perr := protocol.NewError(protocol.CodeOverloaded, "busy")
	perr.RetryAfterMS = 1500
	assert.Equal(t, 1500*time.Millisecond, retryHint(fmt.Errorf("x: %w", perr)))
	assert.Equal(t, 3*time.Second, retryHint(fmt.Errorf("x: %w: %w", ErrUnreachable, &httpError{status: 503, retryAfter: parseRetryAfter("3"), cause: ErrUnreachable})))
	assert.Zero(t, retryHint(ErrDisconnected))
	assert.Zero(t, parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"))
	assert.Zero(t, parseRetryAfter("-4"))
}
