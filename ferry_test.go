package ferry_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/synctest"
)

var (
	testSecret = []byte("ferry-test-secret-0123456789abcdef")
	bins       = testutil.Binaries{Packages: []string{synctest.SyncdPackage}}
)

func TestMain(m *testing.M) {
	code := m.Run()
	bins.Remove()
	os.Exit(code)
}

// Named is a last-writer-wins payload.
type Named struct {
	Name string `json:"name"`
}

var ItemNamed = ferry.Event[Named]("item:named", ferry.Check(func(n Named) error {
	if strings.TrimSpace(n.Name) == "" {
		return eventstore.FieldError("name", "must not be empty")
	}
	return nil
}))

// movesProjection logs every adjustment and name, one row per event.
func movesProjection() ferry.Projection {
	insert := func(ctx context.Context, tx *sql.Tx, e eventstore.Event, what string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO moves (id, item, what) VALUES (?, ?, ?)`, e.ID, e.Stream, what)
		return err
	}
	return ferry.Projection{
		Name:   "moves",
		Schema: `CREATE TABLE IF NOT EXISTS moves (id TEXT PRIMARY KEY, item TEXT NOT NULL, what TEXT NOT NULL)`,
		Reset:  `DELETE FROM moves`,
		Handlers: []ferry.Handler{
			ferry.On(ItemAdjusted, func(ctx context.Context, tx *sql.Tx, e ferry.Stored[Adjusted]) error {
				return insert(ctx, tx, e.Event, fmt.Sprintf("%+d", e.Data.By))
			}),
			ferry.On(ItemNamed, func(ctx context.Context, tx *sql.Tx, e ferry.Stored[Named]) error {
				return insert(ctx, tx, e.Event, e.Data.Name)
			}),
		},
	}
}

func openApp(t *testing.T, path string, opts ferry.Options) *ferry.App {
	t.Helper()
	app, err := ferry.Open(context.Background(), path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = app.Close() })
	return app
}

// moves reads the read model as "item what" lines, in event order.
func moves(t *testing.T, app *ferry.App) []string {
	t.Helper()
	out, err := ferry.Query(context.Background(), app, ferry.Column[string], `SELECT item || ' ' || what FROM moves ORDER BY id`)
	require.NoError(t, err)
	return out
}

func TestOpenRefusesBadOptions(t *testing.T) {
	noop := func(context.Context, *sql.Tx, ferry.Stored[Adjusted]) error { return nil }
	once := ferry.Once(ItemAdjusted, "x", func(context.Context, ferry.Stored[Adjusted]) error { return nil })
	for name, opts := range map[string]ferry.Options{
		"no reset":              {Projections: []ferry.Projection{{Name: "p", Handlers: []ferry.Handler{ferry.On(ItemAdjusted, noop)}}}},
		"no name":               {Projections: []ferry.Projection{{Reset: "DELETE FROM x"}}},
		"twice":                 {Projections: []ferry.Projection{{Name: "p", Reset: "-"}, {Name: "p", Reset: "-"}}},
		"once in read model":    {Projections: []ferry.Projection{{Name: "p", Reset: "-", Handlers: []ferry.Handler{once}}}},
		"on in effects":         {Effects: []ferry.Handler{ferry.On(ItemAdjusted, noop)}},
		"nil function":          {Effects: []ferry.Handler{ferry.Once[Adjusted](ItemAdjusted, "x", nil)}},
		"same effect twice":     {Effects: []ferry.Handler{once, once}},
		"type defined twice":    {Events: []ferry.EventType{ItemAdjusted, ferry.Event[Adjusted]("item:adjusted")}},
		"check of another type": {Events: []ferry.EventType{ferry.Event[Adjusted]("x", ferry.Check(func(Named) error { return nil }))}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ferry.Open(context.Background(), filepath.Join(t.TempDir(), "app.db"), opts)
			require.ErrorIs(t, err, ferry.ErrInvalidOptions)
			var oe *ferry.OptionsError
			assert.ErrorAs(t, err, &oe)
		})
	}
}

// A database keeps its device: another one is refused, none means it.
func TestDeviceIsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	app, err := ferry.Open(context.Background(), path, ferry.Options{Device: "a"})
	require.NoError(t, err)
	require.NoError(t, app.Close())
	_, err = ferry.Open(context.Background(), path, ferry.Options{Device: "b"})
	require.ErrorIs(t, err, eventstore.ErrOriginChanged)
	app = openApp(t, path, ferry.Options{})
	assert.Equal(t, "a", app.Device())
}

// Check validates payloads, typed; Read sees every append before it,
// running or not; a write through Read's transaction fails.
func TestAppendAndRead(t *testing.T) {
	ctx := context.Background()
	app := openApp(t, filepath.Join(t.TempDir(), "app.db"), ferry.Options{Projections: []ferry.Projection{movesProjection()}})
	_, err := app.Append(ctx, "item/a", ItemNamed.New(Named{Name: " "}))
	var ve *eventstore.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "data.name", ve.Field)
	_, err = app.Append(ctx, "item/a", ItemNamed.New(Named{Name: "A"}), ItemAdjusted.New(Adjusted{By: 2}))
	require.NoError(t, err)
	assert.Equal(t, []string{"item/a A", "item/a +2"}, moves(t, app), "Read catches up when not running")

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	require.Eventually(t, app.IsRunning, 10*time.Second, time.Millisecond)
	assert.ErrorIs(t, app.Run(ctx), ferry.ErrRunning)
	_, err = app.Append(ctx, "item/a", ItemAdjusted.New(Adjusted{By: 3}))
	require.NoError(t, err)
	assert.Equal(t, []string{"item/a A", "item/a +2", "item/a +3"}, moves(t, app), "Read waits for the running projection")
	cancel()
	require.NoError(t, <-done)

	err = app.Read(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM moves`)
		return err
	})
	assert.Error(t, err, "Read is read-only")
	_, err = app.Sync(ctx)
	assert.ErrorIs(t, err, ferry.ErrNoHub)
}

// Item is an aggregate.
type Item struct {
	ferry.Root
	Name string
	Qty  int
}

func TestExecute(t *testing.T) {
	ctx := context.Background()
	items := ferry.NewAggregate("item", func() *Item { return &Item{} })
	ferry.Fold(items, ItemNamed, func(it *Item, e ferry.Stored[Named]) { it.Name = e.Data.Name })
	ferry.Fold(items, ItemAdjusted, func(it *Item, e ferry.Stored[Adjusted]) { it.Qty += e.Data.By })
	app := openApp(t, filepath.Join(t.TempDir(), "app.db"), ferry.Options{Events: []ferry.EventType{ItemNamed, ItemAdjusted}})

	take := func(it *Item, n int) error {
		if it.Qty < n {
			return aggregate.Reject("only %d left", it.Qty)
		}
		return ItemAdjusted.Raise(it, Adjusted{By: -n})
	}
	_, err := ferry.Execute(ctx, app, items, "item/a", func(it *Item, n Named) error {
		if err := ItemNamed.Raise(it, n); err != nil {
			return err
		}
		return ItemAdjusted.Raise(it, Adjusted{By: 5})
	}, Named{Name: "A"})
	require.NoError(t, err)
	it, err := ferry.Execute(ctx, app, items, "item/a", take, 3)
	require.NoError(t, err)
	assert.Equal(t, 2, it.Qty)
	_, err = ferry.Execute(ctx, app, items, "item/a", take, 3)
	assert.ErrorIs(t, err, aggregate.ErrRejected)
	it, err = ferry.Load(ctx, app, items, "item/a")
	require.NoError(t, err)
	assert.Equal(t, Item{Name: "A", Qty: 2}, Item{Name: it.Name, Qty: it.Qty})
	_, err = ferry.Load(ctx, app, items, "item/none")
	assert.ErrorIs(t, err, aggregate.ErrAggregateNotFound)

	ferry.Fold(items, ItemNamed, func(*Item, ferry.Stored[Named]) {})
	_, err = ferry.Load(ctx, app, items, "item/a")
	assert.Error(t, err, "a type folded twice is an error, not a panic")
}

// A local event the hub rejects leaves no trace in the read models: after
// the rejection arrives they equal a rebuild, with the app running or
// synced once. Its Once effect, run before the push, is not undone.
func TestRejectedEventLeavesReadModel(t *testing.T) {
	for _, running := range []bool{false, true} {
		t.Run(map[bool]string{false: "sync", true: "run"}[running], func(t *testing.T) {
			ctx := context.Background()
			url := synctest.StartSyncd(t, bins.Path(t, "syncd"), testSecret, nil, "--data-dir", t.TempDir()).URL()
			var effects atomic.Int32
			opts := ferry.Options{Device: "dev", Projections: []ferry.Projection{movesProjection()},
				Effects: []ferry.Handler{ferry.Once(ItemAdjusted, "count", func(context.Context, ferry.Stored[Adjusted]) error {
					effects.Add(1)
					return nil
				})}}
			opts.Sync.URL, opts.Sync.Token = url, synctest.Token(t, testSecret, "acme", "dev", "ok/")
			app := openApp(t, filepath.Join(t.TempDir(), "app.db"), opts)
			_, err := app.Append(ctx, "ok/1", ItemAdjusted.New(Adjusted{By: 1}))
			require.NoError(t, err)
			_, err = app.Append(ctx, "secret/1", ItemNamed.New(Named{Name: "S"}), ItemAdjusted.New(Adjusted{By: 7}))
			require.NoError(t, err)
			_, err = app.Append(ctx, "ok/1", ItemAdjusted.New(Adjusted{By: 2}))
			require.NoError(t, err)
			require.NoError(t, app.CatchUp(ctx))
			require.Equal(t, []string{"ok/1 +1", "secret/1 S", "secret/1 +7", "ok/1 +2"}, moves(t, app), "projected before the push")

			if running {
				runCtx, cancel := context.WithCancel(ctx)
				done := make(chan error, 1)
				go func() { done <- app.Run(runCtx) }()
				defer func() { cancel(); require.NoError(t, <-done) }()
				require.Eventually(t, func() bool {
					n, err := app.Replicator().Rejections(ctx)
					return err == nil && len(n) == 2
				}, 30*time.Second, 5*time.Millisecond)
			} else {
				res, err := app.Sync(ctx)
				require.NoError(t, err, "rejections are not an error")
				assert.Len(t, res.Rejections, 2)
				assert.Equal(t, 2, res.Pushed)
				st, err := app.Status(ctx)
				require.NoError(t, err)
				assert.Equal(t, 2, st.Rejected)
				assert.Zero(t, st.Pending)
			}
			live := moves(t, app)
			require.NoError(t, app.Rebuild(ctx))
			rebuilt := moves(t, app)
			assert.Equal(t, []string{"ok/1 +1", "ok/1 +2"}, rebuilt)
			assert.Equal(t, rebuilt, live, "after a live rejection the read model equals a rebuild")
			assert.Equal(t, int32(3), effects.Load(), "effects ran once per local adjustment, none on rebuild")
		})
	}
}

// renamed is a payload whose Validate has a pointer receiver.
type renamed struct{ To string }

func (r *renamed) Validate() error {
	if r.To == "" {
		return errors.New("to: must not be empty")
	}
	return nil
}

var itemRenamed = ferry.Event[renamed]("item:renamed")

// A Validate method with a pointer receiver runs too: it was skipped, and
// the invalid event stored.
func TestValidatePointerReceiver(t *testing.T) {
	app := openApp(t, filepath.Join(t.TempDir(), "app.db"), ferry.Options{Events: []ferry.EventType{itemRenamed}})
	_, err := app.Append(context.Background(), "item/a", itemRenamed.New(renamed{}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "must not be empty")
	_, err = app.Append(context.Background(), "item/a", itemRenamed.New(renamed{To: "b"}))
	require.NoError(t, err)
}

// Read while Run runs waits for the projections; when Run stops before
// they reach the head, Read catches them up itself instead of waiting
// forever for progress that will not come.
func TestReadAfterRunStops(t *testing.T) {
	gate := make(chan struct{})
	stuck := movesProjection()
	stuck.Handlers = []ferry.Handler{ferry.On(ItemAdjusted, func(ctx context.Context, tx *sql.Tx, e ferry.Stored[Adjusted]) error {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO moves (id, item, what) VALUES (?, ?, ?)`, e.ID, e.Stream, "adjusted")
		return err
	})}
	app := openApp(t, filepath.Join(t.TempDir(), "app.db"), ferry.Options{Projections: []ferry.Projection{stuck}})
	// Both appended before Run starts: once the stuck handler holds the
	// writer, an Append would wait for it (the test hung 1 run in 3).
	_, err := app.Append(context.Background(), "item/a", ItemAdjusted.New(Adjusted{By: 1}))
	require.NoError(t, err)
	_, err = app.Append(context.Background(), "item/b", ItemAdjusted.New(Adjusted{By: 1}))
	require.NoError(t, err)
	runCtx, stopRun := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- app.Run(runCtx) }()

	read := make(chan error, 1)
	go func() {
		read <- app.Read(context.Background(), func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRow(`SELECT count(*) FROM moves`).Scan(&n); err != nil {
				return err
			}
			if n != 2 {
				return fmt.Errorf("read %d moves, want 2", n)
			}
			return nil
		})
	}()
	time.Sleep(50 * time.Millisecond) // Read is waiting for the running projection
	stopRun()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	close(gate)
	select {
	case err := <-read:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Read waits forever after Run stopped")
	}
}
