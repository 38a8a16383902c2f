// Package ledgertest is the conformance suite of the hub's backends: every
// hub.Ledger the hub may be given (the embedded SQLite files, PostgreSQL)
// runs it. A backend's test calls Run with a function that opens a fresh,
// empty ledger of one tenant, and, when the backend has several nodes,
// RunNodes with a function that opens one tenant's ledger through two of
// them:
//
//	func TestLedger(t *testing.T) {
//		ledgertest.Run(t, func(t *testing.T) hub.Ledger {
//			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hub.db"),
//				sqlite.Options{Config: eventstore.Config{Origin: "hub"}})
//			require.NoError(t, err)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The open functions register a t.Cleanup that closes what they opened.
// Every check is a t.Run subtest on its own ledger; the checks are what the
// hub relies on: idempotent insert by id, a cursor that never skips an
// event under concurrent writers, the pull's scope filtering, and Wait
// waking a waiting reader, on the same node and across nodes.
package ledgertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/hub"
)

// timeout bounds every blocking step of a check, so a broken backend fails
// the check instead of hanging it.
const timeout = 20 * time.Second

// Run runs the single-node checks, each on a ledger from open.
func Run(t *testing.T, open func(t *testing.T) hub.Ledger) {
	t.Run("InsertIdempotentByID", func(t *testing.T) { testIdempotent(t, open(t)) })
	t.Run("GapFreeCursorUnderConcurrentWriters", func(t *testing.T) { testGapFree(t, open(t)) })
	t.Run("PullScopeFiltering", func(t *testing.T) { testScope(t, open(t)) })
	t.Run("WaitWakesReader", func(t *testing.T) { testWait(t, open(t)) })
}

// RunTenants runs the checks between tenants. open returns the ledgers of
// two tenants of one backend (one pool, one database), fresh and empty.
func RunTenants(t *testing.T, open func(t *testing.T) (a, b hub.Ledger)) {
	t.Run("CommitToAnotherTenantWakesNobody", func(t *testing.T) {
		a, b := open(t)
		testTenantQuiet(t, a, b)
	})
}

// testTenantQuiet checks that commits to b neither wake a reader of a nor
// show in a's ledger.
func testTenantQuiet(t *testing.T, a, b hub.Ledger) {
	ctx := ctxT(t)
	insert(t, a, newEvent("task/1", "dev-a"))
	quiet, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	inserted := make(chan error, 1)
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, err := b.Insert(ctx, newEvent("task/9", "dev-z"), newEvent("task/9", "dev-z"), newEvent("task/9", "dev-z"))
		inserted <- err
	}()
	got, err := a.Wait(quiet, 1)
	require.NoError(t, <-inserted, "the other tenant's commit")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "woken (head %d) by another tenant's commit", got)
	head, err := a.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), head, "another tenant's events are not in this ledger")
	bHead, err := b.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), bHead)
}

// RunNodes runs the multi-node checks. open returns two ledgers of one
// tenant, fresh and empty, opened through two nodes (for PostgreSQL, two
// DB handles on one database) that share nothing but the database.
func RunNodes(t *testing.T, open func(t *testing.T) (a, b hub.Ledger)) {
	t.Run("CommitOnOneNodeWakesReaderOnAnother", func(t *testing.T) {
		a, b := open(t)
		testWakeAcross(t, a, b)
	})
	t.Run("GapFreeCursorAcrossNodes", func(t *testing.T) {
		a, b := open(t)
		testGapFreeAcross(t, a, b)
	})
}

// newEvent returns a valid client event on stream, from device origin.
func newEvent(stream, origin string) eventstore.Event {
	return eventstore.Event{
		ID: eventstore.NewID(), Stream: stream, Type: "note:added",
		Data: []byte(`{"n":1}`), Meta: []byte(`{}`), Created: eventstore.TimestampOf(time.Now()), Origin: origin,
	}
}

// ctxT returns a context ended after timeout or with t.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// readAll returns the ledger after after, failing t on error.
func readAll(t *testing.T, l hub.Ledger, after int64) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	for e, err := range l.ReadAll(ctxT(t), after, 0) {
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

// insert stores events, failing t on error.
func insert(t *testing.T, l hub.Ledger, events ...eventstore.Event) {
	t.Helper()
	_, err := l.Insert(ctxT(t), events...)
	require.NoError(t, err)
}

// requireLedger checks that got holds the events with ids want, at
// positions after+1, after+2, ...
func requireLedger(t *testing.T, got []eventstore.Event, after int64, want []string) {
	t.Helper()
	ids := make([]string, len(got))
	for i, e := range got {
		ids[i] = e.ID
		require.Equal(t, after+int64(i)+1, e.Position, "event %d", i)
	}
	require.Equal(t, want, ids)
}

func ids(events []eventstore.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func testIdempotent(t *testing.T, l hub.Ledger) {
	batch := []eventstore.Event{newEvent("task/1", "dev-a"), newEvent("task/2", "dev-a"), newEvent("task/1", "dev-a")}
	insert(t, l, batch...)
	first := readAll(t, l, 0)
	requireLedger(t, first, 0, ids(batch))

	// The same batch again, then again with a new event among old ones:
	// only the new one is stored, and nothing moves.
	insert(t, l, batch...)
	fresh := newEvent("task/3", "dev-b")
	insert(t, l, batch[1], fresh, batch[0])
	for i := range batch {
		insert(t, l, batch[i])
	}
	got := readAll(t, l, 0)
	requireLedger(t, got, 0, append(ids(batch), fresh.ID))
	for i := range first {
		assert.Equal(t, first[i].Position, got[i].Position)
		assert.Equal(t, first[i].Data, got[i].Data)
	}
	head, err := l.Head(ctxT(t))
	require.NoError(t, err)
	assert.Equal(t, int64(4), head)
}

// Writers and the reader of the gap-free checks.
const (
	gapWriters = 8
	gapBatches = 25
	gapBatch   = 4
)

func testGapFree(t *testing.T, l hub.Ledger) { gapFree(t, []hub.Ledger{l}, l) }

func testGapFreeAcross(t *testing.T, a, b hub.Ledger) { gapFree(t, []hub.Ledger{a, b}, b) }

// gapFree runs gapWriters concurrent writers spread over writers while a
// reader follows reader's ledger with Wait and ReadAll from its cursor, as
// the hub's pull does: the reader must see every event exactly once, at
// consecutive positions, and its cursor never passes a position it has not
// read.
func gapFree(t *testing.T, writers []hub.Ledger, reader hub.Ledger) {
	ctx := ctxT(t)
	total := gapWriters * gapBatches * gapBatch
	written := make(chan []string, gapWriters)
	errc := make(chan error, gapWriters)
	for w := range gapWriters {
		l := writers[w%len(writers)]
		go func() {
			var mine []string
			for range gapBatches {
				batch := make([]eventstore.Event, gapBatch)
				for i := range batch {
					batch[i] = newEvent(fmt.Sprintf("w%d/%d", w, i%2), fmt.Sprint("dev-", w))
					mine = append(mine, batch[i].ID)
				}
				if _, err := l.Insert(ctx, batch...); err != nil {
					errc <- err
					return
				}
			}
			written <- mine
		}()
	}
	seen := make(map[string]bool, total)
	var cursor int64
	for len(seen) < total {
		select {
		case err := <-errc:
			require.NoError(t, err)
		default:
		}
		head, err := reader.Wait(ctx, cursor)
		require.NoError(t, err)
		require.Greater(t, head, cursor)
		for e, err := range reader.ReadAll(ctx, cursor, 0) {
			require.NoError(t, err)
			require.Equal(t, cursor+1, e.Position, "a gap after position %d", cursor)
			require.False(t, seen[e.ID], "event %s read twice", e.ID)
			seen[e.ID] = true
			cursor = e.Position
		}
	}
	for range gapWriters {
		select {
		case ids := <-written:
			for _, id := range ids {
				assert.True(t, seen[id], "event %s never read", id)
			}
		case err := <-errc:
			require.NoError(t, err)
		}
	}
	assert.Equal(t, int64(total), cursor)
}

func testWait(t *testing.T, l hub.Ledger) {
	ctx := ctxT(t)
	// Past the head, Wait returns at once.
	insert(t, l, newEvent("task/1", "dev-a"))
	head, err := l.Wait(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, int64(1), head)

	// At the head, it blocks until a commit.
	testWakeAcross(t, l, l)

	// It honours its context.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = l.Wait(short, 1<<40)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

}

// testWakeAcross checks that a reader blocked in b.Wait at b's head wakes
// with the position of a commit made through a.
func testWakeAcross(t *testing.T, a, b hub.Ledger) {
	ctx := ctxT(t)
	head, err := b.Head(ctx)
	require.NoError(t, err)
	type woke struct {
		head int64
		err  error
		at   time.Time
	}
	done := make(chan woke, 1)
	go func() {
		h, err := b.Wait(ctx, head)
		done <- woke{h, err, time.Now()}
	}()
	select {
	case w := <-done:
		t.Fatalf("Wait returned before any commit: %d, %v", w.head, w.err)
	case <-time.After(100 * time.Millisecond):
	}
	e := newEvent("task/wake", "dev-w")
	insert(t, a, e)
	select {
	case w := <-done:
		require.NoError(t, w.err)
		assert.Equal(t, head+1, w.head)
	case <-time.After(timeout):
		t.Fatal("Wait was not woken by the commit")
	}
	requireLedger(t, readAll(t, b, head), head, []string{e.ID})
}
