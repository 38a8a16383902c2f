package hub

import (
	"context"
	"iter"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
)

// gatedLedger is a Ledger whose ReadAll, once gated, signals entered and
// then waits for open before reading (ignoring the caller's context, as a
// read whose query completed just before the context ended does).
type gatedLedger struct {
	Ledger
	gated   atomic.Bool
	entered chan struct{}
	open    chan struct{}
}

func (g *gatedLedger) ReadAll(ctx context.Context, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	if !g.gated.Load() {
		return g.Ledger.ReadAll(ctx, after, limit)
	}
	return func(yield func(eventstore.Event, error) bool) {
		g.entered <- struct{}{}
		<-g.open
		for e, err := range g.Ledger.ReadAll(context.Background(), after, limit) {
			if !yield(e, err) {
				return
			}
		}
	}
}

func appendOne(t *testing.T, store eventstore.Store, stream string) {
	t.Helper()
	_, err := store.Append(context.Background(), eventstore.Write{Stream: stream,
		Events: []eventstore.Event{{Type: "t", Data: []byte(`{"x":1}`)}}})
	require.NoError(t, err)
}

// TestReviewWatcherAddAfterRelease: the last connection of a tenant leaves
// (releaseRecent empties the log and gives its bytes back to the Server's
// total) while the watcher is reading other nodes' commits; the watcher
// must not add them to the dropped log afterwards, or their bytes stay
// counted in recentTotal for ever (RecentBytes drifts up, and once past
// recentTotalBytes every log of the Server is emptied at each add).
func TestReviewWatcherAddAfterRelease(t *testing.T) {
	s, err := New(Config{Ledgers: LedgerFunc(func(context.Context, string) (Ledger, error) { return nil, nil }),
		Secret: []byte("0123456789abcdef0123456789abcdef")})
	require.NoError(t, err)
	store := memory.New(eventstore.Config{})
	t.Cleanup(func() { _ = store.Close() })
	appendOne(t, store, "s")
	g := &gatedLedger{Ledger: store, entered: make(chan struct{}, 1), open: make(chan struct{})}
	r := s.acquireRecent("acme", g)
	require.NotNil(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = r.waitHead(ctx, 0) // starts the watcher, which learns head 1
	require.NoError(t, err)

	g.gated.Store(true)
	appendOne(t, store, "s") // another node's commit: the watcher reads it
	select {
	case <-g.entered:
	case <-ctx.Done():
		t.Fatal("the watcher did not read the commit")
	}
	released := make(chan struct{})
	go func() { s.releaseRecent("acme", r); close(released) }()
	// Wait for the release to have dropped and emptied the log (it then
	// waits for the watcher).
	for {
		s.recentMu.Lock()
		_, held := s.recent["acme"]
		s.recentMu.Unlock()
		if !held {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(g.open)
	select {
	case <-released:
	case <-ctx.Done():
		t.Fatal("release did not return")
	}
	require.Zero(t, s.recentTotal.Load(), "the Server still counts bytes of a dropped log")
}

// countingLedger counts the payload bytes its ReadAll yields.
type countingLedger struct {
	Ledger
	read atomic.Int64
}

func (c *countingLedger) ReadAll(ctx context.Context, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		for e, err := range c.Ledger.ReadAll(ctx, after, limit) {
			c.read.Add(int64(len(e.Data) + len(e.Meta)))
			if !yield(e, err) {
				return
			}
		}
	}
}

// TestReviewWatcherReadIsBoundedByBytes: other nodes commit 24 events of
// 900 KB at once (well under watchReadMax). The recent log keeps at most
// recentBytes (4 MB), so the watcher must not pull the whole 21 MB into
// memory (twice, with ownData) only to keep the last few: a tenant's
// burst of large events would cost every node a spike of up to 500 MB per
// tenant, and the connections still read the store (the log no longer
// holds the position after their cursor).
func TestReviewWatcherReadIsBoundedByBytes(t *testing.T) {
	store := memory.New(eventstore.Config{})
	t.Cleanup(func() { _ = store.Close() })
	appendOne(t, store, "s")
	cl := &countingLedger{Ledger: store}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wctx, stop := context.WithCancel(ctx)
	r := &recentLog{store: cl, watchCtx: wctx, stop: stop}
	t.Cleanup(func() {
		stop()
		r.mu.Lock()
		w := r.watched
		r.mu.Unlock()
		if w != nil {
			<-w
		}
	})
	_, err := r.waitHead(ctx, 0)
	require.NoError(t, err)

	const n, size = 24, 900 << 10
	big := []byte(`"` + strings.Repeat("x", size) + `"`)
	events := make([]eventstore.Event, n)
	for i := range events {
		events[i] = eventstore.Event{Type: "t", Data: big}
	}
	_, err = store.Append(ctx, eventstore.Write{Stream: "big", Events: events})
	require.NoError(t, err)
	_, err = r.waitHead(ctx, n) // head 1+n
	require.NoError(t, err)
	require.LessOrEqual(t, cl.read.Load(), int64(recentBytes+eventstore.MaxEventBytes),
		"the watcher read %d MB of other nodes' events for a log that keeps %d MB", cl.read.Load()>>20, recentBytes>>20)
}

// TestReviewWatcherReadRacesLocalInsert: while the watcher reads other
// nodes' commits (after+1..h), an insert of this node begins, commits at
// h+1 and ends, before or after the watcher takes the lock again. Either
// way the log must hold a contiguous run of exactly the store's events,
// and its head must be the store's.
func TestReviewWatcherReadRacesLocalInsert(t *testing.T) {
	for _, endFirst := range []bool{true, false} {
		store := memory.New(eventstore.Config{})
		t.Cleanup(func() { _ = store.Close() })
		appendOne(t, store, "s")
		g := &gatedLedger{Ledger: store, entered: make(chan struct{}, 1), open: make(chan struct{})}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		wctx, stop := context.WithCancel(ctx)
		r := &recentLog{store: g, watchCtx: wctx, stop: stop}
		_, err := r.waitHead(ctx, 0)
		require.NoError(t, err)

		g.gated.Store(true)
		appendOne(t, store, "other") // position 2, another node's
		<-g.entered
		g.gated.Store(false)
		r.begin() // this node's push, position 3
		res, err := store.Insert(ctx, eventstore.Event{ID: eventstore.NewID(), Stream: "mine", Type: "t",
			Data: []byte(`{}`), Meta: []byte(`{}`), Schema: 1, Origin: "dev-1", Created: eventstore.TimestampOf(time.Now())})
		require.NoError(t, err)
		mine := res[0].Event
		if endFirst {
			r.end([]eventstore.Event{mine}, nil)
			close(g.open)
		} else {
			close(g.open)
			_, err = r.waitHead(ctx, 1)
			require.NoError(t, err)
			r.end([]eventstore.Event{mine}, nil)
		}
		_, err = r.waitHead(ctx, 2)
		require.NoError(t, err)
		r.mu.Lock()
		head, events := r.head, slices.Clone(r.events)
		r.mu.Unlock()
		require.Equal(t, int64(3), head, "endFirst=%v", endFirst)
		for i, e := range events {
			require.Equal(t, events[0].Position+int64(i), e.Position, "endFirst=%v: a run with a gap", endFirst)
			want := eventAt(t, store, e.Position)
			require.Equal(t, want.ID, e.ID, "endFirst=%v: position %d", endFirst, e.Position)
		}
		require.NotEmpty(t, events)
		require.Equal(t, int64(3), events[len(events)-1].Position)
		stop()
		<-r.watched
		cancel()
	}
}

func eventAt(t *testing.T, store eventstore.Store, p int64) eventstore.Event {
	t.Helper()
	for e, err := range store.ReadAll(context.Background(), p-1, 1) {
		require.NoError(t, err)
		return e
	}
	t.Fatalf("no event at %d", p)
	return eventstore.Event{}
}
