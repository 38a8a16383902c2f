package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/hub"
)

// seen records, per event ID, what each handler kind was given.
type seen struct {
	mu  sync.Mutex
	on  map[string][]eventstore.Event
	all map[string][]eventstore.Event
}

func newSeen() *seen {
	return &seen{on: map[string][]eventstore.Event{}, all: map[string][]eventstore.Event{}}
}

func (s *seen) record(m map[string][]eventstore.Event, e eventstore.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m[e.ID] = append(m[e.ID], e)
}

// countingProjector is a projector over store whose On handler writes a
// read-model row (a state key) per event, and whose handlers record what
// they were called with. fail, when set, fails the On handler for that ID.
func countingProjector(t *testing.T, store deviceStore, seen *seen, fail string, policy projector.ErrorPolicy, mod ...func(*projector.Options)) *projector.Projector {
	t.Helper()
	h := projector.NewHandlers()
	projector.On(h, "note:added", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, _ json.RawMessage) error {
		if e.ID == fail {
			return errors.New("read model refuses this event")
		}
		seen.record(seen.on, e)
		return eventstore.KeyValuesOf(tx).SetState(ctx, "rm/"+e.ID, e.Data)
	})
	projector.All(h, "note:added", func(_ context.Context, _ eventstore.Tx, e eventstore.Event, _ json.RawMessage) error {
		seen.record(seen.all, e)
		return nil
	})
	opts := projector.Options{Handlers: h, OnError: policy, BatchSize: 16}
	for _, m := range mod {
		m(&opts)
	}
	p, err := projector.New("notes", store, opts)
	require.NoError(t, err)
	return p
}

// A Projector in Config.Projectors handles pulled events inside the pull's
// transaction: when SyncOnce returns, the read model and the checkpoint are
// at the head without the projector ever running on its own, and the
// handlers saw each event once, exactly as the store holds it (an outdated
// one reaching only the All handler).
func TestProjectorsInline(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			h := newTestHub(t)
			hubStore := h.tenant("acme")
			write(t, hubStore, "notes/a", 120)
			write(t, hubStore, "notes/b", 80)
			// A late event: created before notes/b's last note:added but
			// stored after it, so the device finds it outdated.
			b80 := readStream(t, hubStore, "notes/b")
			late := eventstore.Event{ID: eventstore.NewID(), Stream: "notes/b", Type: "note:added", Data: []byte(`{"late":true}`),
				Created: b80[len(b80)-1].Created - 1, Origin: "elsewhere"}
			_, err := hubStore.Insert(ctx, late)
			require.NoError(t, err)

			store := b.open(t, "dev-a")
			seen := newSeen()
			p := countingProjector(t, store, seen, "", projector.Stop)
			r := replicator(t, h, store, "acme", func(c *client.Config) { c.Projectors = []client.Projector{p} })
			st := syncOnce(t, r)
			require.Equal(t, 201, st.Inserted)

			head, err := store.Head(ctx)
			require.NoError(t, err)
			pos, err := p.Position(ctx)
			require.NoError(t, err)
			assert.Equal(t, head, pos, "checkpoint committed with the pulled events")
			waitCtx, cancel := context.WithTimeout(ctx, waitTimeout)
			defer cancel()
			require.NoError(t, p.WaitFor(waitCtx, head), "WaitFor sees the inline position")

			stored := ledger(t, store)
			require.Len(t, stored, 201)
			for _, e := range stored {
				require.Len(t, seen.all[e.ID], 1, "All handler ran once for %s", e.ID)
				assert.Equal(t, e, seen.all[e.ID][0], "handler got the event as stored")
				if e.Outdated {
					assert.Equal(t, late.ID, e.ID)
					assert.Empty(t, seen.on[e.ID], "an outdated event never reaches On")
					continue
				}
				require.Len(t, seen.on[e.ID], 1, "On handler ran once for %s", e.ID)
				v, err := store.State(ctx, "rm/"+e.ID)
				require.NoError(t, err)
				assert.JSONEq(t, string(e.Data), string(v))
			}
			assert.True(t, stored[len(stored)-1].Outdated, "the late event is the outdated one")

			// Running the projector afterwards finds nothing left to do.
			n, err := p.CatchUp(ctx)
			require.NoError(t, err)
			assert.Equal(t, head, n)
			assert.Len(t, seen.all, 201, "nothing handled twice")
		})
	}
}

// A projector that is behind the ledger (a local event it has not handled
// yet) leaves pulled events to its own run, which then handles everything
// once, in order.
func TestProjectorsInlineBehind(t *testing.T) {
	ctx := context.Background()
	h := newTestHub(t)
	write(t, h.tenant("acme"), "notes/a", 40)
	store := openSQLite(t, t.TempDir()+"/dev.db", "dev-a")
	local := write(t, store, "notes/local", 1)
	seen := newSeen()
	p := countingProjector(t, store, seen, "", projector.Stop)
	r := replicator(t, h, store, "acme", func(c *client.Config) { c.Projectors = []client.Projector{p} })
	syncOnce(t, r)

	pos, err := p.Position(ctx)
	require.NoError(t, err)
	assert.Zero(t, pos, "not in step: nothing handled inline")
	assert.Empty(t, seen.all)

	head, err := p.CatchUp(ctx)
	require.NoError(t, err)
	stored := ledger(t, store)
	assert.Equal(t, stored[len(stored)-1].Position, head)
	require.Len(t, seen.all, len(stored))
	for _, e := range stored {
		assert.Len(t, seen.all[e.ID], 1)
	}
	assert.False(t, seen.all[local[0].ID][0].Hydrated)
}

// A handler that fails inside the pull's transaction does not fail the
// sync: the pull is redone without inline projection, the events and the
// cursor are stored, and the projector's own run meets the failure under
// its error policy (Skip here).
func TestProjectorsInlineFailureFallsBack(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			h := newTestHub(t)
			notes := write(t, h.tenant("acme"), "notes/a", 30)
			bad := notes[12].ID

			store := b.open(t, "dev-a")
			seen := newSeen()
			p := countingProjector(t, store, seen, bad, projector.Skip)
			r := replicator(t, h, store, "acme", func(c *client.Config) { c.Projectors = []client.Projector{p} })
			st := syncOnce(t, r)
			assert.Equal(t, 30, st.Inserted)
			assert.Equal(t, int64(30), st.Cursor)
			require.Len(t, ledger(t, store), 30)

			// The 30 events come in one frame: its inline attempt failed as
			// a whole, so no read-model row and no checkpoint remain of it.
			pos, err := p.Position(ctx)
			require.NoError(t, err)
			assert.Zero(t, pos)
			for _, e := range notes {
				_, err := store.State(ctx, "rm/"+e.ID)
				assert.ErrorIs(t, err, eventstore.ErrNotFound, "rolled back: %s", e.ID)
			}
			head, err := store.Head(ctx)
			require.NoError(t, err)

			end, err := p.CatchUp(ctx)
			require.NoError(t, err)
			assert.Equal(t, head, end)
			failures, err := p.Failures(ctx)
			require.NoError(t, err)
			require.Len(t, failures, 1)
			assert.Equal(t, bad, failures[0].EventID)
			for _, e := range ledger(t, store) {
				_, err := store.State(ctx, "rm/"+e.ID)
				if e.ID == bad {
					assert.ErrorIs(t, err, eventstore.ErrNotFound)
				} else {
					assert.NoError(t, err, "read model row for %s", e.ID)
				}
			}
		})
	}
}

// With the projector also running on its own while a backlog is pulled in
// many small transactions, every event is handled exactly once.
func TestProjectorsInlineWithRun(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			h := newTestHub(t, limitBatch(25))
			write(t, h.tenant("acme"), "notes/a", 600)
			store := b.open(t, "dev-a")
			seen := newSeen()
			// Progress calls come from Run and from the replicator; they
			// must not overlap (the race detector checks this counter).
			reports, doneAt := 0, int64(0)
			p := countingProjector(t, store, seen, "", projector.Stop, func(o *projector.Options) {
				o.Progress = func(pr projector.Progress) {
					reports++
					doneAt = pr.Done
				}
			})
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- p.Run(runCtx) }()
			r := replicator(t, h, store, "acme", func(c *client.Config) { c.Projectors = []client.Projector{p} })
			syncOnce(t, r)
			// Local events keep going through Run.
			local := write(t, store, "notes/local", 5)
			waitCtx, cancel := context.WithTimeout(ctx, waitTimeout)
			defer cancel()
			require.NoError(t, p.WaitFor(waitCtx, local[len(local)-1].Position))
			stop()
			require.NoError(t, <-done)

			stored := ledger(t, store)
			require.Len(t, stored, 605)
			assert.Positive(t, reports)
			assert.Equal(t, int64(605), doneAt)
			for _, e := range stored {
				assert.Len(t, seen.all[e.ID], 1, "event %d handled once", e.Position)
			}
		})
	}
}

// New refuses a nil Projector.
func TestProjectorsNil(t *testing.T) {
	store := openSQLite(t, t.TempDir()+"/dev.db", "dev-a")
	_, err := client.New(store, client.Config{URL: "ws://127.0.0.1:1/sync", Projectors: []client.Projector{nil}})
	require.ErrorContains(t, err, "Projectors[0] is nil")
}

// limitBatch lowers the hub's events per frame.
func limitBatch(n int) func(*hub.Config) {
	return func(c *hub.Config) { c.Limits.MaxEventsPerBatch = n }
}

// Frames that queue up while a transaction runs are applied together, up
// to Config.PullBatch events; PullBatch 1 applies one frame per
// transaction.
func TestPullBatch(t *testing.T) {
	for _, c := range []struct {
		name      string
		pullBatch int
		coalesced bool
	}{{"default", 0, true}, {"one frame", 1, false}} {
		t.Run(c.name, func(t *testing.T) {
			h := newTestHub(t, limitBatch(50))
			write(t, h.tenant("acme"), "notes/a", 600)
			store := openSQLite(t, t.TempDir()+"/dev.db", "dev-a")
			// A slow first transaction lets the hub's frames queue up.
			slow := projector.NewHandlers()
			var once sync.Once
			projector.All(slow, "note:added", func(context.Context, eventstore.Tx, eventstore.Event, json.RawMessage) error {
				once.Do(func() { time.Sleep(300 * time.Millisecond) })
				return nil
			})
			p, err := projector.New("slow", store, projector.Options{Handlers: slow})
			require.NoError(t, err)
			var mu sync.Mutex
			var steps []int64
			last := int64(0)
			r := replicator(t, h, store, "acme", func(cfg *client.Config) {
				cfg.PullBatch = c.pullBatch
				cfg.Projectors = []client.Projector{p}
				cfg.OnProgress = func(pr client.Progress) {
					mu.Lock()
					defer mu.Unlock()
					if pr.Cursor > last {
						steps = append(steps, pr.Cursor-last)
						last = pr.Cursor
					}
				}
			})
			syncOnce(t, r)
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, int64(600), last)
			if c.coalesced {
				assert.Greater(t, slices.Max(steps), int64(50), "queued frames applied together: %v", steps)
			} else {
				assert.LessOrEqual(t, slices.Max(steps), int64(50), "one frame per transaction: %v", steps)
			}
		})
	}
}

// projectorFunc adapts a function to client.Projector.
type projectorFunc func(ctx context.Context, tx eventstore.Tx, events []eventstore.Event) (func(), error)

func (f projectorFunc) ProjectInserted(ctx context.Context, tx eventstore.Tx, events []eventstore.Event) (func(), error) {
	return f(ctx, tx, events)
}

// When a projector fails and the pull is redone without projectors, the
// events stored are the ones received, whatever an earlier projector did
// to the slice it was given.
func TestProjectorsFallbackStoresEventsAsReceived(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newTestHub(t)
			write(t, h.tenant("acme"), "notes/a", 20)
			store := b.open(t, "dev-a")
			meddler := projectorFunc(func(_ context.Context, _ eventstore.Tx, events []eventstore.Event) (func(), error) {
				for i := range events {
					events[i].Data, events[i].Schema = []byte(`{"meddled":true}`), 2
				}
				return nil, nil
			})
			failing := projectorFunc(func(context.Context, eventstore.Tx, []eventstore.Event) (func(), error) {
				return nil, errors.New("down")
			})
			r := replicator(t, h, store, "acme", func(c *client.Config) { c.Projectors = []client.Projector{meddler, failing} })
			syncOnce(t, r)
			want, got := ledger(t, h.tenant("acme")), ledger(t, store)
			require.Len(t, got, len(want))
			for i := range want {
				assert.Equal(t, want[i].ID, got[i].ID)
				assert.JSONEq(t, string(want[i].Data), string(got[i].Data))
				assert.Equal(t, want[i].Schema, got[i].Schema)
			}
		})
	}
}
