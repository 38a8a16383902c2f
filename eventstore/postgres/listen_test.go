package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// noPoll makes Wait depend on notifications alone.
const noPoll = time.Hour

// woken fails the test unless ch is closed within a generous bound (a
// failure bound, not a speed assertion).
func woken(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: not woken", what)
	}
}

func TestWaitAcrossNodes(t *testing.T) {
	ctx := context.Background()
	schema := testSchema(t)
	nodeA := openDB(t, schema, Options{PollInterval: noPoll})
	nodeB := openDB(t, schema, Options{PollInterval: noPoll})
	tenant := newTenant(t)
	a := openStore(t, nodeA, tenant, eventstore.Config{})
	b := openStore(t, nodeB, tenant, eventstore.Config{})
	other := openStore(t, nodeB, newTenant(t)+"-other", eventstore.Config{})

	// The notifier channel is taken before the commit, so only a
	// notification from node A can close it.
	ch := b.core.Notifier.C()
	otherCh := other.core.Notifier.C()
	_, err := a.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{ev("t", `{}`)}})
	require.NoError(t, err)
	woken(t, ch, "store on node B")
	select {
	case <-otherCh:
		t.Error("another tenant's store was woken")
	default:
	}

	// A Wait on node B blocks until node A commits.
	done := make(chan int64, 1)
	go func() {
		h, err := b.Wait(ctx, 1)
		assert.NoError(t, err)
		done <- h
	}()
	_, err = a.Insert(ctx, eventstore.Event{ID: eventstore.NewID(), Stream: "s", Type: "t", Created: eventstore.NewClock().Now(), Origin: "dev"})
	require.NoError(t, err)
	select {
	case h := <-done:
		assert.Equal(t, int64(2), h)
	case <-time.After(30 * time.Second):
		t.Fatal("Wait on node B did not return")
	}

	// Wait honours its context.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = b.Wait(cctx, 2)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestListenerReconnects(t *testing.T) {
	ctx := context.Background()
	schema := testSchema(t)
	nodeA := openDB(t, schema, Options{})
	nodeB := openDB(t, schema, Options{PollInterval: noPoll})
	tenant := newTenant(t)
	a := openStore(t, nodeA, tenant, eventstore.Config{})
	b := openStore(t, nodeB, tenant, eventstore.Config{})

	old := nodeB.listenPID.Load()
	require.NotZero(t, old)
	_, err := nodeA.Pool().Exec(ctx, "SELECT pg_terminate_backend($1)", old)
	require.NoError(t, err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		pid := nodeB.listenPID.Load()
		if pid != 0 && pid != old {
			break
		}
		require.True(t, time.Now().Before(deadline), "listener did not reconnect")
		time.Sleep(20 * time.Millisecond)
	}

	ch := b.core.Notifier.C()
	_, err = a.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{ev("t", `{}`)}})
	require.NoError(t, err)
	woken(t, ch, "store on node B after reconnect")
}

func TestCloseWakesWaiters(t *testing.T) {
	db := openDB(t, testSchema(t), Options{PollInterval: noPoll})
	s := openStore(t, db, newTenant(t), eventstore.Config{})
	done := make(chan error, 1)
	go func() {
		_, err := s.Wait(context.Background(), 0)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Wait block (the test passes either way)
	require.NoError(t, s.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, eventstore.ErrClosed)
	case <-time.After(30 * time.Second):
		t.Fatal("Wait did not return after Close")
	}
}
