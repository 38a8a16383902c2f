package main

import (
	"bytes"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/synctest"
)

var (
	testSecret = []byte("inventory-secret-0123456789abcdef")
	bins       = testutil.Binaries{Packages: []string{synctest.SyncdPackage}}
)

func TestMain(m *testing.M) {
	code := m.Run()
	bins.Remove()
	os.Exit(code)
}

// device is one warehouse: its app, opened afresh for every command as the
// CLI does.
type device struct {
	t   *testing.T
	cfg config
}

func newDevice(t *testing.T, name, hub string) *device {
	dir := t.TempDir()
	return &device{t: t, cfg: config{db: filepath.Join(dir, name+".db"), device: name,
		alerts: filepath.Join(dir, name+".alerts"), hub: hub, token: synctest.Token(t, testSecret, "acme", name)}}
}

// do opens the app, runs fn, settles (read model, effects) and closes.
func (d *device) do(fn func(ctx context.Context, app *ferry.App) error) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	app, err := open(ctx, d.cfg)
	require.NoError(d.t, err)
	defer func() { require.NoError(d.t, app.Close()) }()
	require.NoError(d.t, fn(ctx, app))
	require.NoError(d.t, app.CatchUp(ctx))
}

// sync syncs and returns the result and error.
func (d *device) sync() (ferry.SyncResult, error) {
	var res ferry.SyncResult
	var serr error
	d.do(func(ctx context.Context, app *ferry.App) error {
		res, serr = app.Sync(ctx)
		return nil
	})
	return res, serr
}

func (d *device) items() []item {
	var out []item
	d.do(func(ctx context.Context, app *ferry.App) (err error) {
		out, err = list(ctx, app)
		return err
	})
	return out
}

func (d *device) alerts() []string {
	b, err := os.ReadFile(d.cfg.alerts)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(d.t, err)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// TestTwoWarehouses: two devices edit one item offline (both rename it,
// both take stock) and sync through a real syncd, on SQLite and on
// PostgreSQL. They converge: the later name wins, every adjustment counts.
// The low-stock alert fired once, on the device that made the withdrawal,
// and neither a rebuild nor another sync fires it again.
func TestTwoWarehouses(t *testing.T) {
	for _, b := range synctest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			hub := synctest.StartSyncd(t, bins.Path(t, "syncd"), testSecret, nil, b.Args(t)...)
			a := newDevice(t, "warehouse-a", hub.URL())
			bb := newDevice(t, "warehouse-b", hub.URL())

			a.do(func(ctx context.Context, app *ferry.App) error { return name(ctx, app, "nuts", "Nuts") })
			a.do(func(ctx context.Context, app *ferry.App) error { return adjust(ctx, app, "nuts", 10) })
			_, err := a.sync()
			require.NoError(t, err)
			_, err = bb.sync()
			require.NoError(t, err)
			require.Equal(t, []item{{"item/nuts", "Nuts", 10}}, bb.items())

			require.NoError(t, hub.Kill()) // offline from here
			a.do(func(ctx context.Context, app *ferry.App) error { return name(ctx, app, "nuts", "Hazelnuts") })
			a.do(func(ctx context.Context, app *ferry.App) error { return adjust(ctx, app, "nuts", -6) })  // 4 left: alert
			bb.do(func(ctx context.Context, app *ferry.App) error { return adjust(ctx, app, "nuts", -1) }) // 9 left
			bb.do(func(ctx context.Context, app *ferry.App) error { return name(ctx, app, "nuts", "Walnuts") })
			_, err = a.sync()
			require.ErrorIs(t, err, client.ErrUnreachable)
			assert.Equal(t, []item{{"item/nuts", "Hazelnuts", 4}}, a.items(), "offline, the device sees its own edits")

			require.NoError(t, hub.Start(context.Background()))
			for _, d := range []*device{a, bb, a} {
				res, err := d.sync()
				require.NoError(t, err)
				assert.Empty(t, res.Rejections)
			}
			want := []item{{"item/nuts", "Walnuts", 3}}
			assert.Equal(t, want, a.items())
			assert.Equal(t, want, bb.items())

			require.Len(t, a.alerts(), 1)
			assert.Contains(t, a.alerts()[0], "low stock: item/nuts has 4 left")
			assert.Empty(t, bb.alerts(), "the alert fires on the device that made the withdrawal only")

			for _, d := range []*device{a, bb} {
				d.do(func(ctx context.Context, app *ferry.App) error { return app.Rebuild(ctx) })
				_, err := d.sync()
				require.NoError(t, err)
				assert.Equal(t, want, d.items(), "a rebuild gives the same read model")
			}
			assert.Len(t, a.alerts(), 1, "no alert again after rebuild")
			assert.Empty(t, bb.alerts())
		})
	}
}

// The CLI runs the same story's first steps.
func TestCLI(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "a.db")
	var out bytes.Buffer
	cli := func(args ...string) error {
		out.Reset()
		return run(context.Background(), append([]string{"--db", db, "--device", "warehouse-a"}, args...), &out)
	}
	require.NoError(t, cli("name", "nuts", "Nuts"))
	require.NoError(t, cli("add", "nuts", "10"))
	require.NoError(t, cli("take", "nuts", "7"))
	require.NoError(t, cli("list"))
	assert.Equal(t, "item/nuts    \"Nuts\"               3\n", out.String())
	alerts, err := os.ReadFile(db + ".alerts")
	require.NoError(t, err)
	assert.Contains(t, string(alerts), "low stock: item/nuts has 3 left")
	assert.Error(t, cli("take", "nuts", "zero"))
	assert.Error(t, cli("name", "nuts", " "), "an empty name is refused")
	assert.ErrorIs(t, run(context.Background(), []string{"--db", db, "--device", "warehouse-b", "list"}, &out), eventstore.ErrOriginChanged,
		"the database belongs to warehouse-a")
}

// The app uses at most 10 exported Ferry identifiers, counted in its
// non-test files over every package of the module.
func TestFerryIdentifiers(t *testing.T) {
	fset := token.NewFileSet()
	used := map[string]bool{}
	for _, file := range []string{"inventory.go", "main.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		require.NoError(t, err)
		ferryImports := map[string]bool{}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "github.com/ferrysync/ferry" || strings.HasPrefix(path, "github.com/ferrysync/ferry/") {
				name := path[strings.LastIndexByte(path, '/')+1:]
				if imp.Name != nil {
					name = imp.Name.Name
				}
				ferryImports[name] = true
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && ferryImports[id.Name] {
					used[id.Name+"."+sel.Sel.Name] = true
				}
			}
			return true
		})
	}
	assert.LessOrEqual(t, len(used), 10, "%v", used)
	assert.NotEmpty(t, used)
}
