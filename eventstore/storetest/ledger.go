package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

var ledgerChecks = []check{
	{"ConcurrentAppendersGapFree", testConcurrentLedger},
	{"WaitWakesOnCommit", testWaitWakes},
	{"WaitHonoursContext", testWaitCancel},
}

// testConcurrentLedger runs several appenders (some losing concurrency
// conflicts, which roll back) and inserters while a reader follows the
// ledger with ReadAll and Wait. The reader must see every committed event
// exactly once, at consecutive positions.
func testConcurrentLedger(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := guard(t)
	const (
		writers = 4
		batches = 40
	)
	var (
		mu        sync.Mutex
		committed = map[string]bool{}
	)
	record := func(events []eventstore.Event) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			committed[e.ID] = true
		}
	}
	var wg sync.WaitGroup
	writeErr := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range batches {
				var err error
				switch i % 3 {
				case 0: // own stream, 1..3 events
					var out []eventstore.Event
					out, err = s.Append(ctx, eventstore.Write{Stream: fmt.Sprintf("w%d", w),
						Events: []eventstore.Event{local(TypeNote, i), local(TypeNote, i+1)}[:1+i%2]})
					record(out)
				case 1: // shared stream with an expected version: may conflict
					var v int64
					v, err = s.StreamVersion(ctx, "shared")
					if err == nil {
						var out []eventstore.Event
						out, err = s.Append(ctx, eventstore.Write{Stream: "shared", Expect: eventstore.Exact(v),
							Events: []eventstore.Event{local(TypeNote, i)}})
						record(out)
						if errors.Is(err, eventstore.ErrConcurrency) {
							err = nil
						}
					}
				case 2: // events from elsewhere
					e := remote(fmt.Sprintf("r%d", w), TypeNote, base())
					_, err = s.Insert(ctx, e)
					if err == nil {
						record([]eventstore.Event{e})
					}
				}
				if err != nil {
					writeErr <- fmt.Errorf("writer %d batch %d: %w", w, i, err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	seen := map[string]bool{}
	var pos int64
	follow := func() {
		for e, err := range s.ReadAll(ctx, pos, 0) {
			require.NoError(t, err)
			require.Equal(t, pos+1, e.Position, "ledger must be gap-free and in order")
			require.False(t, seen[e.ID], "event %s seen twice", e.ID)
			seen[e.ID] = true
			pos = e.Position
		}
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		follow()
		if !finished {
			wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, err := s.Wait(wctx, pos)
			cancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				require.NoError(t, err)
			}
		}
	}
	follow()
	close(writeErr)
	for err := range writeErr {
		require.NoError(t, err)
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, len(committed), len(seen), "reader saw every committed event")
	for id := range committed {
		assert.True(t, seen[id], "committed event %s missing from the ledger", id)
	}
	assert.Equal(t, int64(len(committed)), head(t, s))
	assert.Greater(t, len(committed), writers*batches/2)
}

func testWaitWakes(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := guard(t)
	appendTo(t, s, "s", local(TypeNote, 0))

	// Already past: returns at once.
	hd, err := s.Wait(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, int64(1), hd)

	type result struct {
		head int64
		err  error
	}
	got := make(chan result, 1)
	go func() {
		hd, err := s.Wait(ctx, 1)
		got <- result{hd, err}
	}()
	// Nothing committed: the waiter must still be blocked (a read-only
	// Update and a failed append commit no event).
	require.NoError(t, s.Update(ctx, func(tx eventstore.Tx) error { return txAll(t, tx).SetState(ctx, "k", []byte("v")) }))
	_, err = s.Append(ctx, eventstore.Write{Stream: "s", Expect: eventstore.NoStream, Events: []eventstore.Event{local(TypeNote, 1)}})
	require.ErrorIs(t, err, eventstore.ErrConcurrency)
	time.Sleep(20 * time.Millisecond) // give a wrong early return a chance to show
	select {
	case r := <-got:
		t.Fatalf("Wait returned before any commit: %d, %v", r.head, r.err)
	default:
	}

	appendTo(t, s, "s", local(TypeNote, 1), local(TypeNote, 2))
	r := <-got // guarded by ctx: a waiter that never wakes fails the test
	require.NoError(t, r.err)
	assert.Equal(t, int64(3), r.head)

	// Insert wakes waiters too.
	go func() {
		hd, err := s.Wait(ctx, 3)
		got <- result{hd, err}
	}()
	insert(t, s, remote("r", TypeNote, base()))
	r = <-got
	require.NoError(t, r.err)
	assert.Equal(t, int64(4), r.head)
}

func testWaitCancel(t *testing.T, h *harness) {
	s := h.store(t)
	ctx, cancel := context.WithCancel(guard(t))
	got := make(chan error, 1)
	go func() {
		_, err := s.Wait(ctx, 0)
		got <- err
	}()
	cancel()
	assert.ErrorIs(t, <-got, context.Canceled)

	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	_, err := s.Wait(ctx, 5)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}
