package eventstore_test

import (
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeWall is a settable physical clock.
type fakeWall struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeWall) now() time.Time  { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeWall) set(t time.Time) { f.mu.Lock(); defer f.mu.Unlock(); f.t = t }

func TestTimestampEncodingOrder(t *testing.T) {
	ts := []eventstore.Timestamp{
		0, 1, eventstore.MakeTimestamp(1, 0), eventstore.MakeTimestamp(1, 65535),
		eventstore.MakeTimestamp(2, 0), eventstore.MakeTimestamp(1_700_000_000_000, 7),
		eventstore.MakeTimestamp(1_700_000_000_001, 0), eventstore.MakeTimestamp(1<<47-1, 65535),
	}
	for i := 1; i < len(ts); i++ {
		a, b := ts[i-1], ts[i]
		require.Less(t, a, b)
		assert.Less(t, a.String(), b.String(), "byte order of %s and %s", a, b)
		assert.Len(t, b.String(), 16)
	}
	for _, v := range ts {
		back, err := eventstore.ParseTimestamp(v.String())
		require.NoError(t, err)
		assert.Equal(t, v, back)
	}
	ms := eventstore.MakeTimestamp(1_700_000_000_123, 42)
	assert.Equal(t, int64(1_700_000_000_123), ms.Millis())
	assert.Equal(t, uint16(42), ms.Logical())
	assert.Equal(t, int64(1_700_000_000_123), ms.Time().UnixMilli())
}

func TestTimestampParseRejectsBadInput(t *testing.T) {
	for _, s := range []string{"", "123", "zzzzzzzzzzzzzzzz", "00000000000000000", "-000000000000001"} {
		_, err := eventstore.ParseTimestamp(s)
		assert.Error(t, err, "%q", s)
	}
}

func TestTimestampJSON(t *testing.T) {
	in := struct{ At eventstore.Timestamp }{eventstore.MakeTimestamp(5, 3)}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.JSONEq(t, `{"At":"0000000000050003"}`, string(b))
	var out struct{ At eventstore.Timestamp }
	require.NoError(t, json.Unmarshal(b, &out))
	assert.Equal(t, in, out)
	assert.Error(t, json.Unmarshal([]byte(`{"At":"nope"}`), &out))
}

func TestClockNowIsStrictlyIncreasing(t *testing.T) {
	w := &fakeWall{t: time.UnixMilli(1000)}
	c := eventstore.NewClock(eventstore.WithWallClock(w.now))
	a := c.Now()
	b := c.Now()
	assert.Equal(t, eventstore.MakeTimestamp(1000, 0), a)
	assert.Equal(t, eventstore.MakeTimestamp(1000, 1), b)

	w.set(time.UnixMilli(900)) // wall clock steps backwards
	d := c.Now()
	assert.Greater(t, d, b, "a clock stepping back must not reorder events")

	w.set(time.UnixMilli(2000))
	assert.Equal(t, eventstore.MakeTimestamp(2000, 0), c.Now())
	assert.Equal(t, eventstore.MakeTimestamp(2000, 0), c.Last())
}

func TestClockLogicalOverflowCarries(t *testing.T) {
	w := &fakeWall{t: time.UnixMilli(1000)}
	c := eventstore.NewClock(eventstore.WithWallClock(w.now))
	var last eventstore.Timestamp
	for range 70000 {
		n := c.Now()
		require.Greater(t, n, last)
		last = n
	}
	assert.Equal(t, int64(1001), last.Millis())
}

func TestClockObserve(t *testing.T) {
	w := &fakeWall{t: time.UnixMilli(10_000)}
	c := eventstore.NewClock(eventstore.WithWallClock(w.now), eventstore.WithMaxDrift(time.Second))

	// A remote reading slightly ahead drags the clock: max(local, remote)+1.
	remote := eventstore.MakeTimestamp(10_500, 3)
	got, err := c.Observe(remote)
	require.NoError(t, err)
	assert.Equal(t, remote+1, got)
	assert.Greater(t, c.Now(), remote, "a local event after observing must sort after it")

	// A remote reading in the past leaves physical time in charge.
	w.set(time.UnixMilli(20_000))
	got, err = c.Observe(eventstore.MakeTimestamp(5, 0))
	require.NoError(t, err)
	assert.Equal(t, eventstore.MakeTimestamp(20_000, 0), got)

	// Beyond the tolerance: rejected, clock untouched.
	before := c.Last()
	_, err = c.Observe(eventstore.MakeTimestamp(20_000+1_001, 0))
	require.ErrorIs(t, err, eventstore.ErrClockDrift)
	var de *eventstore.ClockDriftError
	require.True(t, errors.As(err, &de))
	assert.Equal(t, int64(1000), de.MaxDrift)
	assert.Equal(t, before, c.Last())

	// Drift check disabled.
	free := eventstore.NewClock(eventstore.WithWallClock(w.now), eventstore.WithMaxDrift(0))
	_, err = free.Observe(eventstore.MakeTimestamp(1<<46, 0))
	assert.NoError(t, err)
}

func TestClockConcurrentUseIsUnique(t *testing.T) {
	c := eventstore.NewClock()
	const goroutines, each = 8, 2000
	out := make(chan eventstore.Timestamp, goroutines*each)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if (g+i)%5 == 0 {
					ts, err := c.Observe(c.Last())
					if err == nil {
						out <- ts
					}
					continue
				}
				out <- c.Now()
			}
		}()
	}
	wg.Wait()
	close(out)
	seen := map[eventstore.Timestamp]bool{}
	for ts := range out {
		require.False(t, seen[ts], "timestamp %s issued twice", ts)
		seen[ts] = true
	}
	assert.Len(t, seen, goroutines*each)
}

func TestNewIDIsMonotonicAndValid(t *testing.T) {
	ids := make([]string, 5000)
	for i := range ids {
		ids[i] = eventstore.NewID()
		require.True(t, eventstore.ValidID(ids[i]), ids[i])
	}
	assert.True(t, sort.StringsAreSorted(ids), "ids made in sequence must sort in sequence")
	assert.False(t, eventstore.ValidID("not-a-ulid"))
	assert.False(t, eventstore.ValidID(""))
}

func TestCursorCompare(t *testing.T) {
	a := eventstore.Cursor{Created: 5, ID: "B"}
	assert.Equal(t, 0, a.Compare(a))
	assert.Equal(t, -1, a.Compare(eventstore.Cursor{Created: 6, ID: "A"}))
	assert.Equal(t, 1, a.Compare(eventstore.Cursor{Created: 5, ID: "A"}))
	assert.True(t, eventstore.Cursor{}.IsZero())
	assert.False(t, a.IsZero())
}

// A corrected clock stamps new events with the corrected physical time,
// checks drift against it, and stays monotonic when corrected backwards.
func TestClockOffset(t *testing.T) {
	wall0 := time.UnixMilli(1_800_000_000_000)
	c := eventstore.NewClock(eventstore.WithWallClock(func() time.Time { return wall0.Add(2 * time.Hour) })) // 2h fast
	ahead := c.Now()
	assert.Equal(t, wall0.Add(2*time.Hour).UnixMilli(), ahead.Millis())
	_, err := c.Observe(eventstore.TimestampOf(wall0.Add(-3 * time.Hour)))
	require.NoError(t, err)

	c.SetOffset(-2 * time.Hour)
	assert.Equal(t, -2*time.Hour, c.Offset())
	assert.Equal(t, wall0.Add(2*time.Hour), c.Wall(), "Wall is uncorrected")
	next := c.Now()
	assert.Greater(t, next, ahead, "monotonic")

	// Behind by 2h: remote events stamped at wall0 time are too far ahead
	// until the clock is corrected.
	slow := eventstore.NewClock(eventstore.WithWallClock(func() time.Time { return wall0.Add(-2 * time.Hour) }))
	_, err = slow.Observe(eventstore.TimestampOf(wall0))
	var de *eventstore.ClockDriftError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 110*time.Minute, de.RetryAfter())
	slow.SetOffset(2 * time.Hour)
	_, err = slow.Observe(eventstore.TimestampOf(wall0))
	require.NoError(t, err)
	assert.Equal(t, wall0.UnixMilli(), slow.Now().Millis(), "stamps corrected time")
}

// TestClockResume: Resume moves the clock past a held timestamp without the
// drift check, and never backwards.
func TestClockResume(t *testing.T) {
	wall := time.Unix(1_700_000_000, 0)
	c := eventstore.NewClock(eventstore.WithWallClock(func() time.Time { return wall }), eventstore.WithMaxDrift(time.Minute))
	held := eventstore.TimestampOf(wall.Add(time.Hour)) // beyond the drift Observe allows
	c.Resume(held)
	require.Equal(t, held, c.Last())
	require.Greater(t, c.Now(), held)
	before := c.Last()
	c.Resume(eventstore.TimestampOf(wall))
	require.Equal(t, before, c.Last(), "Resume never moves the clock backwards")
}
