package synctest_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/postgres"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/hub/hubmetrics"
	"github.com/ferrysync/ferry/sync/synctest"
)

// hubBackend opens the one tenant store of an in-process hub.
type hubBackend struct {
	name string
	open func(t testing.TB) eventstore.Store
}

func hubBackends() []hubBackend {
	return []hubBackend{
		{"sqlite", func(t testing.TB) eventstore.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hub.db"),
				sqlite.Options{Config: eventstore.Config{Origin: "hub"}})
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		}},
		{"postgres", func(t testing.TB) eventstore.Store {
			db, err := postgres.Open(context.Background(), synctest.PostgresURL(t),
				postgres.Options{Schema: synctest.FreshSchema(t), MaxConns: 8})
			require.NoError(t, err)
			t.Cleanup(db.Close)
			s, err := db.Store("acme", eventstore.Config{})
			require.NoError(t, err)
			return s
		}},
	}
}

// serveHub serves an in-process hub whose only tenant, "acme", is store,
// and returns its WebSocket URL.
func serveHub(t testing.TB, store eventstore.Store, mod func(*hub.Config)) string {
	t.Helper()
	cfg := hub.Config{Secret: testSecret, NodeID: "e2e", Ledgers: hub.LedgerFunc(func(_ context.Context, tenant string) (hub.Ledger, error) {
		if tenant != "acme" {
			return nil, fmt.Errorf("unknown tenant %q", tenant)
		}
		return store, nil
	})}
	if mod != nil {
		mod(&cfg)
	}
	if os.Getenv(envBenchMetrics) == "1" && cfg.Observer == nil { // benchmarks with the Prometheus observer
		cfg.Observer = hubmetrics.New()
	}
	srv, err := hub.New(cfg)
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/sync"
}

// permutations of three devices: the sync orders of the rounds.
var permutations = [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}

// Three devices write to shared tasks while offline (conflicting renames of
// the same aggregates, the same new aggregate created on every device) and
// sync in every order, then all at once; afterwards every device holds the
// hub's event set, folds every aggregate to the hub's state, has the read
// model the hub's ledger implies, and every Once effect ran exactly once,
// on the device that wrote the event.
func TestConvergence(t *testing.T) {
	for _, b := range hubBackends() {
		t.Run(b.name, func(t *testing.T) {
			hubStore := b.open(t)
			url := serveHub(t, hubStore, nil)
			sink := newEffectSink()
			devs := make([]*device, 3)
			for i := range devs {
				name := fmt.Sprintf("dev-%d", i)
				devs[i] = newDevice(t, name, url, token(t, "acme", name), sink)
			}

			// Online start: device 0 creates the shared tasks; all sync.
			const shared = 3
			for k := range shared {
				devs[0].exec(fmt.Sprintf("task/%d", k), createTask, fmt.Sprintf("task %d", k))
			}
			devs[0].effects()
			for _, d := range devs {
				d.sync()
			}

			offline := func(round int) {
				for _, d := range devs {
					for k := range shared {
						d.exec(fmt.Sprintf("task/%d", k), renameTask, fmt.Sprintf("%s r%d k%d", d.name, round, k))
					}
					d.exec(fmt.Sprintf("task/%s-%d", d.name, round), createTask, d.name+" own")
					if round%2 == 0 {
						// Every device creates the same new task, unaware of
						// the others.
						d.exec(fmt.Sprintf("task/new-%d", round), createTask, d.name+" new")
					}
					d.effects()
				}
			}
			for round, order := range permutations {
				offline(round)
				for _, i := range order {
					devs[i].sync()
				}
			}
			// A last round with all three syncing at once.
			offline(len(permutations))
			var wg sync.WaitGroup
			errs := make([]error, len(devs))
			for i, d := range devs {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
					defer cancel()
					_, errs[i] = d.rep.SyncOnce(ctx)
				})
			}
			wg.Wait()
			for i, err := range errs {
				require.NoError(t, err, devs[i].name)
			}
			// Two more passes: everyone pulls what the others pushed last.
			for range 2 {
				for _, d := range devs {
					d.sync()
				}
			}

			checkConverged(t, hubStore, devs, sink)
		})
	}
}

// checkConverged checks the end state of TestConvergence.
func checkConverged(t *testing.T, hubStore eventstore.Store, devs []*device, sink *effectSink) {
	ctx := context.Background()
	hubLedger := ledger(t, hubStore)
	require.NoError(t, synctest.CheckLedger(hubLedger), "hub ledger")

	var written []eventstore.Event
	for _, d := range devs {
		written = append(written, d.written...)
	}
	require.Len(t, hubLedger, len(written), "the hub holds every event written, once")
	wantIDs := sortedIDs(written)
	assert.Equal(t, wantIDs, sortedIDs(hubLedger), "no event lost, none invented")
	hubPos := make(map[string]int64, len(hubLedger))
	streams := map[string]bool{}
	for _, e := range hubLedger {
		hubPos[e.ID] = e.Position
		streams[e.Stream] = true
	}

	hubTasks := aggregate.NewRepository(hubStore, taskReducer())
	wantModel := expectedReadModel(t, hubLedger)
	for _, d := range devs {
		local := ledger(t, d.store)
		require.NoError(t, synctest.CheckLedger(local), d.name)
		assert.Equal(t, wantIDs, sortedIDs(local), "%s holds the hub's event set", d.name)
		for _, e := range local {
			assert.Equal(t, hubPos[e.ID], e.HubPosition, "%s: hub position of %s", d.name, e.ID)
			assert.Equal(t, e.Origin != d.name, e.Hydrated, "%s: hydrated iff pulled", d.name)
		}
		st, err := d.rep.Status(ctx)
		require.NoError(t, err)
		assert.Zero(t, st.Pending, d.name)
		assert.Zero(t, st.Rejected, d.name)
		assert.Equal(t, int64(len(hubLedger)), st.Cursor, d.name)

		for stream := range streams {
			assert.Equal(t, testutil.IDs(testutil.ReadStream(t, hubStore, stream)), testutil.IDs(testutil.ReadStream(t, d.store, stream)), "%s: %s order", d.name, stream)
			want, err := hubTasks.Load(ctx, stream)
			require.NoError(t, err)
			got, err := d.tasks.Load(ctx, stream)
			require.NoError(t, err)
			assert.Equal(t, want.Title, got.Title, "%s: %s title", d.name, stream)
			assert.Equal(t, want.History, got.History, "%s: %s history", d.name, stream)
			assert.Equal(t, want.Version(), got.Version(), "%s: %s version", d.name, stream)
		}
		assert.Equal(t, wantModel, d.readModel(), "%s read model", d.name)
		pending, err := d.fx.List(ctx, projector.EffectPending)
		require.NoError(t, err)
		assert.Empty(t, pending, "%s: no effect left pending", d.name)
		failed, err := d.fx.List(ctx, projector.EffectFailed)
		require.NoError(t, err)
		assert.Empty(t, failed, "%s: no effect failed", d.name)
		assert.Zero(t, d.effects(), "%s: nothing more to run", d.name)
	}

	ran := sink.snapshot()
	assert.Len(t, ran, len(hubLedger), "one effect per event")
	for _, e := range hubLedger {
		assert.Equal(t, []string{e.Origin}, ran[e.ID], "effect of %s ran once, on its origin", e.ID)
	}
}
