package hub

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
)

// run returns events at positions from, from+1, ... with data of size
// bytes.
func run(from int64, n, size int) []eventstore.Event {
	out := make([]eventstore.Event, n)
	for i := range out {
		out[i] = eventstore.Event{ID: fmt.Sprint(from + int64(i)), Position: from + int64(i),
			Data: []byte(`"` + strings.Repeat("x", max(size-2, 0)) + `"`)}
	}
	return out
}

// held returns the positions r yields from after+1 on, and whether it held
// after+1.
func held(r *recentLog, after int64) ([]int64, bool) {
	var out []int64
	ok := r.each(after, func(e eventstore.Event) bool { out = append(out, e.Position); return true })
	return out, ok
}

func TestRecentLogRuns(t *testing.T) {
	r := &recentLog{}
	_, ok := held(r, 0)
	assert.False(t, ok, "empty")

	r.begin()
	r.end(run(5, 3, 2), nil)
	got, ok := held(r, 4)
	require.True(t, ok)
	assert.Equal(t, []int64{5, 6, 7}, got)
	got, ok = held(r, 6)
	require.True(t, ok)
	assert.Equal(t, []int64{7}, got)
	for _, after := range []int64{3, 7, 100} {
		_, ok = held(r, after)
		assert.False(t, ok, "after %d", after)
	}

	// A run that continues the held one extends it.
	r.begin()
	r.end(run(8, 2, 2), nil)
	got, _ = held(r, 4)
	assert.Equal(t, []int64{5, 6, 7, 8, 9}, got)

	// A run after a gap (positions stored elsewhere) restarts the log:
	// position 10 must come from the store.
	r.begin()
	r.end(run(11, 2, 2), nil)
	_, ok = held(r, 9)
	assert.False(t, ok)
	got, ok = held(r, 10)
	require.True(t, ok)
	assert.Equal(t, []int64{11, 12}, got)

	// An insert that stored nothing (all duplicates, or failed) changes
	// nothing.
	r.begin()
	r.end(nil, nil)
	got, _ = held(r, 10)
	assert.Equal(t, []int64{11, 12}, got)

	// each stops when yield says so.
	n := 0
	r.each(10, func(eventstore.Event) bool { n++; return false })
	assert.Equal(t, 1, n)
}

func TestRecentLogBounds(t *testing.T) {
	r := &recentLog{}
	r.begin()
	r.end(run(1, recentEvents+10, 2), nil)
	assert.Len(t, r.events, recentEvents)
	_, ok := held(r, 9)
	assert.False(t, ok, "the oldest are dropped")
	got, ok := held(r, 10+recentEvents-1)
	require.True(t, ok)
	assert.Equal(t, []int64{10 + recentEvents}, got)

	big := 1 << 20
	r.begin()
	r.end(run(11+recentEvents, recentBytes/big+3, big), nil)
	assert.LessOrEqual(t, r.bytes, recentBytes)
	total := 0
	for i := range r.events {
		total += eventSize(&r.events[i])
	}
	assert.Equal(t, total, r.bytes)
	_, ok = held(r, 10+recentEvents)
	assert.False(t, ok)
}

// The logs of a Server share a budget: a log that takes the total over
// it is emptied.
func TestRecentLogTotal(t *testing.T) {
	var total atomic.Int64
	a, b := &recentLog{total: &total}, &recentLog{total: &total}
	a.begin()
	a.end(run(1, 10, 100), nil)
	assert.Equal(t, int64(a.bytes), total.Load())
	total.Add(recentTotalBytes - total.Load() - 100) // others hold the rest
	others := total.Load()
	b.begin()
	b.end(run(1, 10, 100), nil)
	assert.Empty(t, b.events, "over the budget")
	assert.Zero(t, b.bytes)
	assert.Equal(t, others, total.Load())
	assert.Len(t, a.events, 10, "the others keep theirs")
}

func TestRecentLogAwait(t *testing.T) {
	ctx := context.Background()
	r := &recentLog{}
	start := time.Now()
	r.await(ctx, 0) // nothing pending: returns at once
	r.begin()
	done := make(chan struct{})
	go func() {
		r.await(ctx, 0)
		close(done)
	}()
	r.end(run(1, 1, 2), nil)
	<-done
	_, ok := held(r, 0)
	assert.True(t, ok)

	// await gives up with ctx.
	r.begin()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	r.await(cctx, 5)
	r.end(nil, nil)
	assert.Less(t, time.Since(start), time.Minute) // did not hang
}

func TestOwnData(t *testing.T) {
	frame := []byte(`{"a":1}{"m":2}{"b":3}`)
	events := []eventstore.Event{{Data: frame[0:7], Meta: frame[7:14]}, {Data: frame[14:21]}}
	ownData(events)
	for i := range frame {
		frame[i] = 'x'
	}
	assert.Equal(t, `{"a":1}`, string(events[0].Data))
	assert.Equal(t, `{"m":2}`, string(events[0].Meta))
	assert.Equal(t, `{"b":3}`, string(events[1].Data))
	assert.Empty(t, events[1].Meta)
	assert.Equal(t, len(events[0].Data), cap(events[0].Data), "no room to grow into the next")
}

func TestAcquireRecent(t *testing.T) {
	s, err := New(Config{Ledgers: LedgerFunc(func(context.Context, string) (Ledger, error) { return nil, nil }),
		Secret: []byte("0123456789abcdef0123456789abcdef")})
	require.NoError(t, err)
	a, b := &countingStore{}, &countingStore{}
	r1 := s.acquireRecent("acme", a)
	r2 := s.acquireRecent("acme", a)
	require.NotNil(t, r1)
	assert.Same(t, r1, r2, "one log per tenant store")
	assert.Nil(t, s.acquireRecent("acme", b), "another store of the tenant while the first is in use")
	other := s.acquireRecent("globex", b)
	assert.NotSame(t, r1, other)
	s.releaseRecent("acme", r1)
	s.releaseRecent("acme", r2)
	assert.NotContains(t, s.recent, "acme", "dropped by the last release")
	r3 := s.acquireRecent("acme", b)
	require.NotNil(t, r3)
	assert.NotSame(t, r1, r3)
	r3.begin()
	r3.end(run(1, 3, 10), nil)
	assert.Positive(t, s.recentTotal.Load())
	s.releaseRecent("acme", r3)
	s.releaseRecent("globex", other)
	assert.Empty(t, s.recent)
	assert.Zero(t, s.recentTotal.Load(), "released logs give their bytes back")
}

func TestRecentLogHead(t *testing.T) {
	store := memory.New(eventstore.Config{})
	t.Cleanup(func() { _ = store.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &recentLog{store: store, watchCtx: ctx, stop: cancel}

	// A push through this node wakes the readers as it ends.
	got := make(chan int64, 1)
	go func() {
		h, err := r.waitHead(ctx, 0)
		assert.NoError(t, err)
		got <- h
	}()
	r.begin()
	r.end(run(1, 3, 10), nil)
	select {
	case h := <-got:
		assert.Equal(t, int64(3), h)
	case <-time.After(10 * time.Second):
		t.Fatal("the reader was not woken by end")
	}

	// A commit the node did not push (another node's, say) reaches them
	// through the watcher.
	for i := range 5 {
		_, err := store.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{{Type: "t", Data: []byte(`{}`)}}})
		require.NoError(t, err, i)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	// The watcher may report a head between the appends (4, say); past 4
	// it can only be the last one.
	h, err := r.waitHead(wctx, 4)
	require.NoError(t, err)
	assert.Equal(t, int64(5), h)

}

// waitHead waits until r knows a head after cursor (starting its watcher)
// and returns it, or the watcher's failure, or ctx's error.
func (r *recentLog) waitHead(ctx context.Context, cursor int64) (int64, error) {
	for {
		r.mu.Lock()
		r.startWatch()
		head, err := r.head, r.headErr
		r.mu.Unlock()
		switch {
		case head > cursor:
			return head, nil
		case err != nil:
			return 0, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func TestRecentLogFrame(t *testing.T) {
	r := &recentLog{}
	builds := 0
	build := func(b string) func() ([]byte, error) {
		return func() ([]byte, error) { builds++; return []byte(b), nil }
	}
	f, err := r.frame(0, 1, build("a"))
	require.NoError(t, err)
	assert.Equal(t, "a", string(f))
	f, err = r.frame(0, 1, build("x"))
	require.NoError(t, err)
	assert.Equal(t, "a", string(f), "encoded once")
	assert.Equal(t, 1, builds)
	for i := range int64(liveFrames) {
		_, err := r.frame(i+1, i+2, build(fmt.Sprint(i)))
		require.NoError(t, err)
	}
	f, err = r.frame(0, 1, build("b"))
	require.NoError(t, err)
	assert.Equal(t, "b", string(f), "the oldest frame was dropped")
	_, err = r.frame(9, 10, func() ([]byte, error) { return nil, assert.AnError })
	require.ErrorIs(t, err, assert.AnError)
}
