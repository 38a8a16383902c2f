package browsertest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/hub/inspector"
	"github.com/ferrysync/ferry/sync/hub/tenants"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// adminToken guards the inspector's data, as on a non-loopback admin
// address.
const adminToken = "admin-s3cret"

// generation is what the tenant's ledger reports as its generation.
const generation = "gen-7f3a"

// browser returns the path of a Chromium or Chrome on PATH, or skips the
// test (fails it when FERRY_REQUIRE_BROWSER=1).
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium, chromium-browser or google-chrome on PATH: run scripts/chromium.sh to install one"
	if os.Getenv("FERRY_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + " (FERRY_REQUIRE_BROWSER=1)")
	}
	t.Skip(msg)
	return ""
}

// genStore is a tenant store that reports a known generation, so the test
// can tell the page shows the one the ledger reports.
type genStore struct {
	tenants.Store
}

func (genStore) Generation(context.Context) (string, error) { return generation, nil }

// rig is a hub with the inspector mounted beside its sync endpoint, and
// the devices syncing with it.
type rig struct {
	t       *testing.T
	pool    *tenants.Pool
	srv     *hub.Server
	web     *httptest.Server
	ctx     context.Context // the devices' Run context
	devices sync.WaitGroup
}

func newRig(t *testing.T) *rig {
	dir := t.TempDir()
	pool := tenants.New(func(ctx context.Context, tenant string) (tenants.Store, error) {
		s, err := sqlite.Open(ctx, filepath.Join(dir, tenant+".db"), sqlite.Options{Config: eventstore.Config{Origin: "hub"}})
		if err != nil {
			return nil, err
		}
		return genStore{s}, nil
	}, tenants.Options{})
	t.Cleanup(func() { _ = pool.Close() })
	srv, err := hub.New(hub.Config{Ledgers: pool, Secret: secret, NodeID: "node-a"})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/sync", srv)
	mux.Handle("/inspector/", http.StripPrefix("/inspector", inspector.Handler(srv, inspector.WithToken(adminToken))))
	web := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		web.Close()
	})
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, pool: pool, srv: srv, web: web, ctx: ctx}
	t.Cleanup(func() { cancel(); r.devices.Wait() })
	return r
}

// device starts a device named name that has written events and keeps it
// in sync (client.Replicator.Run) until the test ends; its token allows
// streams (all when none).
func (r *rig) device(name string, events []eventstore.Write, streams ...string) {
	t := r.t
	store := memory.New(eventstore.Config{Origin: name})
	t.Cleanup(func() { _ = store.Close() })
	for _, w := range events {
		_, err := store.Append(context.Background(), w)
		require.NoError(t, err)
	}
	tok, err := hub.IssueToken(secret, hub.Claims{Tenant: "acme", Subject: "user-" + name, Streams: streams,
		Expiry: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	rep, err := client.New(store, client.Config{URL: r.web.URL + "/sync", Token: tok, App: "todo/1.4"})
	require.NoError(t, err)
	r.devices.Go(func() { _ = rep.Run(r.ctx) })
}

// hubDigest returns the tenant's ledger digest, read from the store.
func (r *rig) hubDigest() string {
	l, release, err := r.pool.Acquire(context.Background(), "acme")
	require.NoError(r.t, err)
	defer release()
	var d eventstore.Digest
	for e, err := range l.ReadAll(context.Background(), 0, 0) {
		require.NoError(r.t, err)
		d.Add(e, e.Position)
	}
	return d.String()
}

func write(stream string, types ...string) eventstore.Write {
	w := eventstore.Write{Stream: stream}
	for _, typ := range types {
		w.Events = append(w.Events, eventstore.Event{Type: typ, Data: []byte(`{"title":"milk"}`)})
	}
	return w
}

// shown is what the page shows: the cells of its tables, by row.
type shown struct {
	Tenants    [][]string `json:"tenants"`
	Devices    [][]string `json:"devices"`
	Events     [][]string `json:"events"`
	Rejections [][]string `json:"rejections"`
	Tenant     string     `json:"tenant"`
	Visible    bool       `json:"visible"`
	Head       string     `json:"head"`
	Generation string     `json:"generation"`
	Digest     string     `json:"digest"`
	Node       string     `json:"node"`
	Status     string     `json:"status"`
	Polls      int        `json:"polls"`
	Marker     string     `json:"marker"`
}

// readPage is evaluated in the page: it reads the rendered text.
const readPage = `(() => {
	const rows = (id) => [...document.querySelectorAll("#" + id + " tbody tr")]
		.filter((tr) => tr.cells.length > 1)
		.map((tr) => [...tr.cells].map((td) => td.textContent));
	const text = (id) => document.getElementById(id).textContent;
	return {
		tenants: rows("tenants"), devices: rows("devices"), events: rows("events"), rejections: rows("rejections"),
		tenant: text("tenant-name"), visible: !document.getElementById("tenant").hidden,
		head: text("head"), generation: text("generation"), digest: text("digest"), node: text("node"),
		status: text("status"), polls: Number(document.body.dataset.polls || 0), marker: String(window.ferryMarker || ""),
	};
})()`

// Device columns, as the page lays them out.
const (
	colDevice, colSubject, colNode, colCursor, colLag, colState, colPushed, colRejected = 0, 1, 2, 3, 4, 5, 6, 7
)

// waitShown reads the page until ok accepts what it shows, and returns it;
// it fails the test with the last reading after timeout.
func waitShown(t *testing.T, ctx context.Context, what string, ok func(s shown) bool) shown {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var s shown
	for {
		var err error
		s, err = chromedp.Run(ctx, chromedp.Evaluate[shown](readPage))
		require.NoError(t, err)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(s, "", "  ")
			t.Fatalf("the page never showed %s; it shows:\n%s", what, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func row(rows [][]string, col int, value string) []string {
	i := slices.IndexFunc(rows, func(r []string) bool { return len(r) > col && r[col] == value })
	if i < 0 {
		return nil
	}
	return rows[i]
}

func column(rows [][]string, col int) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r[col])
	}
	return out
}

// The inspector, in a real browser, shows what real devices synced: the
// tenant, the connected devices with their cursors, the latest events
// with their types, a rejection with its reason, the ledger's generation
// and digest; and it follows another device's sync live, without a
// reload.
func TestInspectorInChromium(t *testing.T) {
	exe := browser(t)
	r := newRig(t)
	// phone may write task streams only: its secret note is rejected.
	r.device("phone", []eventstore.Write{write("task/1", "task:created", "task:renamed"), write("secret/1", "secret:noted")}, "task/")
	r.device("laptop", []eventstore.Write{write("note/1", "note:written")})

	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1440, 1000))...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(r.web.URL+"/inspector/?token="+adminToken)))
	s := waitShown(t, ctx, "both devices caught up at head 3 and the rejection", func(s shown) bool {
		phone, laptop := row(s.Devices, colDevice, "phone"), row(s.Devices, colDevice, "laptop")
		return s.Visible && s.Head == "3" && len(s.Events) == 3 && len(s.Rejections) == 1 &&
			phone != nil && laptop != nil && phone[colCursor] == "3" && laptop[colCursor] == "3"
	})
	assert.Equal(t, "node-a", s.Node)
	assert.Contains(t, s.Status, "live")
	require.Len(t, s.Tenants, 1)
	assert.Equal(t, []string{"acme", "yes", "2", "3", "0", "1"}, s.Tenants[0], "tenant, open, connections, head, max lag, rejections")
	assert.Equal(t, "acme", s.Tenant)
	assert.Equal(t, generation, s.Generation)
	assert.Equal(t, r.hubDigest(), s.Digest)
	assert.True(t, strings.HasPrefix(s.Digest, "3-"), s.Digest)

	phone := row(s.Devices, colDevice, "phone")
	assert.Equal(t, "user-phone", phone[colSubject])
	assert.Equal(t, "node-a", phone[colNode])
	assert.Equal(t, "0", phone[colLag])
	assert.Equal(t, "live", phone[colState])
	assert.Equal(t, "3", phone[colPushed])
	assert.Equal(t, "1", phone[colRejected])
	assert.Equal(t, "1", row(s.Devices, colDevice, "laptop")[colPushed])

	assert.Equal(t, []string{"3", "2", "1"}, column(s.Events, 0), "latest first")
	assert.ElementsMatch(t, []string{"task:created", "task:renamed", "note:written"}, column(s.Events, 2))
	assert.Subset(t, column(s.Events, 3), []string{"phone", "laptop"}, "origins")
	rej := s.Rejections[0]
	assert.Equal(t, []string{"phone", "secret/1", "secret:noted", "forbidden_stream", "stream outside the token's scope"}, rej[1:6])

	// Another device syncs; the page follows without a reload.
	_, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.ferryMarker = "same page"`))
	require.NoError(t, err)
	before := s.Polls
	r.device("tablet", []eventstore.Write{write("task/2", "task:completed")})
	s = waitShown(t, ctx, "the tablet's event at head 4, every device at cursor 4", func(s shown) bool {
		for _, d := range []string{"phone", "laptop", "tablet"} {
			if x := row(s.Devices, colDevice, d); x == nil || x[colCursor] != "4" {
				return false
			}
		}
		return s.Head == "4" && len(s.Events) == 4
	})
	assert.Equal(t, "same page", s.Marker, "the page was not reloaded")
	assert.Greater(t, s.Polls, before)
	assert.Equal(t, []string{"4", "task/2", "task:completed", "tablet"}, s.Events[0][:4])
	assert.Equal(t, []string{"acme", "yes", "3", "4", "0", "1"}, s.Tenants[0])
	assert.Equal(t, r.hubDigest(), s.Digest)
	assert.True(t, strings.HasPrefix(s.Digest, "4-"), s.Digest)
	assert.Len(t, s.Rejections, 1)

	if path := os.Getenv("FERRY_INSPECTOR_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, png, 0o644))
		t.Logf("screenshot: %s (%d bytes)", path, len(png))
	}
}

// Without the admin token the page shows no data and says why.
func TestInspectorNeedsToken(t *testing.T) {
	exe := browser(t)
	r := newRig(t)
	r.device("laptop", []eventstore.Write{write("note/1", "note:written")})

	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU)...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, time.Minute)
	t.Cleanup(cancel)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(r.web.URL+"/inspector/?token=wrong")))
	s := waitShown(t, ctx, "the unauthorized status", func(s shown) bool { return strings.Contains(s.Status, "unauthorized") })
	assert.Empty(t, s.Tenants)
	assert.False(t, s.Visible)
	assert.Equal(t, 0, s.Polls)
}
