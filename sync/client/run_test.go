package client_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/client"
)

// runInBackground starts r.Run and returns a function that stops it and
// returns Run's error.
func runInBackground(t *testing.T, r *client.Replicator) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(waitTimeout):
				t.Error("Run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// progressLog records OnProgress reports.
type progressLog struct {
	mu      sync.Mutex
	reports []client.Progress
}

func (l *progressLog) add(p client.Progress) {
	l.mu.Lock()
	l.reports = append(l.reports, p)
	l.mu.Unlock()
}

func (l *progressLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reports)
}

func (l *progressLog) since(i int) []client.Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]client.Progress(nil), l.reports[i:]...)
}

// Live: an event written on A reaches B while both run, without SyncOnce,
// and the other way round.
func TestRunLive(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newTestHub(t)
			a, bb := b.open(t, "dev-a"), b.open(t, "dev-b")
			stopA := runInBackground(t, replicator(t, h, a, "acme"))
			rb := replicator(t, h, bb, "acme")
			stopB := runInBackground(t, rb)

			e := write(t, a, "chat/1", 1)[0]
			waitFor(t, bb, e.ID)
			f := write(t, bb, "chat/1", 1)[0]
			waitFor(t, a, f.ID)

			// Acks land too (HubPosition does not move the head, so poll).
			require.Eventually(t, func() bool {
				st, err := rb.Status(context.Background())
				return err == nil && st.Pending == 0
			}, waitTimeout, 5*time.Millisecond)
			st, err := rb.Status(context.Background())
			require.NoError(t, err)
			assert.True(t, st.Online)

			require.ErrorIs(t, stopA(), context.Canceled)
			require.ErrorIs(t, stopB(), context.Canceled)
			assert.Equal(t, testutil.IDs(testutil.ReadStream(t, a, "chat/1")), testutil.IDs(testutil.ReadStream(t, bb, "chat/1")))
		})
	}
}

// After a hub restart, Run reconnects and resumes from its cursor.
func TestRunReconnectsAfterHubRestart(t *testing.T) {
	h := newTestHub(t)
	a, b := backends()[0].open(t, "dev-a"), backends()[1].open(t, "dev-b")
	ra := replicator(t, h, a, "acme")
	log := &progressLog{}
	rb := replicator(t, h, b, "acme", func(c *client.Config) { c.OnProgress = log.add })
	stopB := runInBackground(t, rb)

	e1 := write(t, a, "doc/1", 20)
	syncOnce(t, ra)
	waitFor(t, b, e1[19].ID)
	before, err := rb.Status(context.Background())
	require.NoError(t, err)
	require.Positive(t, before.Cursor)
	// The session reports it caught up after storing the events waitFor
	// saw: wait for that report, so it is not taken for a new connection.
	require.Eventually(t, func() bool {
		r := log.since(0)
		return len(r) > 0 && r[len(r)-1].CaughtUp && r[len(r)-1].Cursor >= before.Cursor
	}, waitTimeout, 5*time.Millisecond)

	mark := log.mark()
	h.restart()
	e2 := write(t, a, "doc/1", 1)[0]
	syncOnce(t, ra)
	waitFor(t, b, e2.ID)
	require.ErrorIs(t, stopB(), context.Canceled)

	reports := log.since(mark)
	connections, pulled := 0, int64(0)
	for i, p := range reports {
		if p.Online && (i == 0 || !reports[i-1].Online) {
			connections++
			assert.GreaterOrEqual(t, p.Since, before.Cursor, "resumed from the cursor, no full resync")
		}
		if !p.Online && i > 0 && reports[i-1].Online {
			pulled += reports[i-1].Pulled
		}
	}
	assert.Positive(t, connections, "reconnected")
	assert.Equal(t, int64(1), pulled, "only the new event was pulled")
	assert.Len(t, testutil.Ledger(t, b), 21)
}

// Run keeps retrying when the hub refuses the token, asking TokenFunc for
// a new one each time; a good token then gets through.
func TestRunRetriesUnauthorized(t *testing.T) {
	h := newTestHub(t)
	s := backends()[0].open(t, "dev-a")
	e := write(t, s, "x", 1)[0]
	var mu sync.Mutex
	calls := 0
	r := replicator(t, h, s, "acme", func(c *client.Config) {
		c.TokenFunc = func(context.Context) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls < 3 {
				return "bad", nil
			}
			return token(t, "acme", "device"), nil
		}
	})
	runInBackground(t, r)
	waitFor(t, h.tenant("acme"), e.ID)
	mu.Lock()
	defer mu.Unlock()
	assert.GreaterOrEqual(t, calls, 3)
}

// Status works on a store that never synced, and SyncOnce waits for a
// running Run instead of racing it.
func TestStatusFresh(t *testing.T) {
	s := backends()[1].open(t, "dev-a")
	write(t, s, "x", 3)
	r, err := client.New(s, client.Config{URL: "ws://127.0.0.1:1/sync"})
	require.NoError(t, err)
	st, err := r.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, client.Status{Device: "dev-a", Pending: 3}, st)
}

func TestNewValidates(t *testing.T) {
	s := backends()[0].open(t, "dev-a")
	for _, url := range []string{"", "ftp://x/sync", "ws:///sync", "::"} {
		_, err := client.New(s, client.Config{URL: url})
		assert.Error(t, err, url)
	}
	r, err := client.New(s, client.Config{URL: "https://hub.example/sync"})
	require.NoError(t, err)
	assert.Equal(t, "dev-a", r.Device())
	_, err = client.New(nil, client.Config{URL: "ws://x/sync"})
	assert.Error(t, err)
	_, err = client.New(noOrigin{s}, client.Config{URL: "ws://x/sync"})
	assert.Error(t, err, "no device id")
	r, err = client.New(noOrigin{s}, client.Config{URL: "ws://x/sync", Device: "d1"})
	require.NoError(t, err)
	assert.Equal(t, "d1", r.Device())
}

// noOrigin hides the store's Origin method.
type noOrigin struct{ client.Store }

// Pulled events of a type the app's registry does not know are kept,
// flagged Unknown, and the pull goes on past them: the cursor reaches the
// hub's head. Once the app opens its store with a registry that knows the
// type, the store revives them.
func TestUnknownTypeKeptThenRevived(t *testing.T) {
	h := newTestHub(t)
	write(t, h.tenant("acme"), "a", 2)
	_, err := h.tenant("acme").Append(context.Background(), eventstore.Write{Stream: "a", Events: []eventstore.Event{{Type: "alien:landed"}}})
	require.NoError(t, err)
	write(t, h.tenant("acme"), "a", 2)

	path := t.TempDir() + "/dev.db"
	reg := eventstore.NewRegistry(eventstore.EventType{Name: "note:added"})
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{Config: eventstore.Config{Origin: "dev-a", Registry: reg}})
	require.NoError(t, err)
	r := replicator(t, h, s, "acme")
	st := syncOnce(t, r)
	assert.EqualValues(t, 5, st.Cursor)
	ledger := testutil.Ledger(t, s)
	require.Len(t, ledger, 5)
	assert.True(t, ledger[2].Unknown)
	require.NoError(t, s.Close())

	require.NoError(t, reg.Register(eventstore.EventType{Name: "alien:landed"}))
	s = openSQLiteWith(t, path, eventstore.Config{Origin: "dev-a", Registry: reg})
	ledger = testutil.Ledger(t, s)
	assert.False(t, ledger[2].Unknown)
	assert.EqualValues(t, 1, ledger[2].Revived)
	syncOnce(t, replicator(t, h, s, "acme"))
	assert.Equal(t, testutil.IDs(testutil.Ledger(t, h.tenant("acme"))), testutil.IDs(testutil.Ledger(t, s)))
}

// Only one session runs at a time: SyncOnce waits while Run holds the
// replicator, until its context ends.
func TestOneSessionAtATime(t *testing.T) {
	h := newTestHub(t)
	s := backends()[0].open(t, "dev-a")
	r := replicator(t, h, s, "acme")
	stop := runInBackground(t, r)
	e := write(t, s, "x", 1)[0]
	waitFor(t, h.tenant("acme"), e.ID) // Run is connected
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := r.SyncOnce(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, stop(), context.Canceled)
	syncOnce(t, r)
}
