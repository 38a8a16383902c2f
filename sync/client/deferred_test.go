package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/hub"
)

// A live replicator keeps an event the hub deferred pending and pushes it
// again when the hub's hint is due; meanwhile the events written after it
// flow. The clock correction measured from Welcome is applied to the
// store's clock and persisted.
func TestDeferredPushedAgainWhenDue(t *testing.T) {
	const ahead = 3 * time.Second
	h := newTestHub(t, func(c *hub.Config) { c.MaxClockDrift = time.Second })
	clock := eventstore.NewClock(eventstore.WithWallClock(func() time.Time { return time.Now().Add(ahead) }))
	s := memory.New(eventstore.Config{Origin: "fast", Clock: clock})
	t.Cleanup(func() { _ = s.Close() })
	early := write(t, s, "n", 1)[0] // stamped 3s ahead: beyond the hub's 1s

	st := syncOnce(t, replicator(t, h, s, "acme"))
	assert.Equal(t, 1, st.Deferred)
	assert.Zero(t, st.Rejected)
	assert.Greater(t, st.RetryAfter, time.Duration(0))
	assert.Len(t, testutil.Collect(t, s.ReadPending(context.Background(), 0, 0)), 1, "kept pending")
	assert.InDelta(t, -ahead.Milliseconds(), clock.Offset().Milliseconds(), 400, "corrected by the measured offset")
	v, err := s.State(context.Background(), client.KeyClockOffset)
	require.NoError(t, err)
	assert.NotEmpty(t, v)

	stop := runInBackground(t, replicator(t, h, s, "acme"))
	later := write(t, s, "m", 1)[0] // the clock is corrected, but stays monotonic: after early
	waitFor(t, h.tenant("acme"), early.ID)
	waitFor(t, h.tenant("acme"), later.ID)
	require.Eventually(t, func() bool { return len(testutil.Collect(t, s.ReadPending(context.Background(), 0, 0))) == 0 },
		waitTimeout, 10*time.Millisecond, "the acks are recorded")
	require.ErrorIs(t, stop(), context.Canceled)
}

// A hub node whose own clock is a month ahead does not drag the device's
// clock (which never runs backwards) into the future for good: the
// measured offset is beyond what a device clock is plausibly off by, so
// it is ignored and not persisted.
func TestHubTimeFarOffIgnored(t *testing.T) {
	h := newTestHub(t, func(c *hub.Config) { c.Now = func() time.Time { return time.Now().Add(30 * 24 * time.Hour) } })
	clock := eventstore.NewClock()
	s := memory.New(eventstore.Config{Origin: "dev", Clock: clock})
	t.Cleanup(func() { _ = s.Close() })
	syncOnce(t, replicator(t, h, s, "acme"))
	assert.Zero(t, clock.Offset())
	_, err := s.State(context.Background(), client.KeyClockOffset)
	assert.ErrorIs(t, err, eventstore.ErrNotFound)
}
