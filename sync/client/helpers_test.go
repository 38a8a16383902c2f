package client_test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/internal/testutil/tempsqlite"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/synctest"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// waitTimeout bounds every wait in these tests: it is a failure bound, not
// a timing assertion.
const waitTimeout = 30 * time.Second

// testHub is a real hub on a loopback port, with one memory store per
// tenant that outlives restarts.
type testHub struct {
	t      testing.TB
	mu     sync.Mutex
	stores map[string]eventstore.Store
	addr   string
	srv    *hub.Server
	http   *httptest.Server
	mod    []func(*hub.Config)
}

func newTestHub(t testing.TB, mod ...func(*hub.Config)) *testHub {
	t.Helper()
	h := &testHub{t: t, stores: make(map[string]eventstore.Store), mod: mod}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h.addr = ln.Addr().String()
	h.start(ln)
	t.Cleanup(func() {
		h.stop()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, s := range h.stores {
			_ = s.Close()
		}
	})
	return h
}

// start serves a new hub.Server on ln, over the same tenant stores.
func (h *testHub) start(ln net.Listener) {
	h.t.Helper()
	cfg := hub.Config{Ledgers: hub.LedgerFunc(func(ctx context.Context, tenant string) (hub.Ledger, error) {
		return h.store(ctx, tenant)
	}), Secret: testSecret}
	for _, m := range h.mod {
		m(&cfg)
	}
	srv, err := hub.New(cfg)
	require.NoError(h.t, err)
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	h.srv, h.http = srv, hs
}

// stop shuts the hub down (clients are told going_away) and closes its
// port. It is safe to call twice.
func (h *testHub) stop() {
	if h.http == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.srv.Shutdown(ctx)
	h.http.Close()
	h.http = nil
}

// restart stops the hub and starts a new one on the same address.
func (h *testHub) restart() {
	h.t.Helper()
	h.stop()
	var ln net.Listener
	require.Eventually(h.t, func() bool {
		var err error
		ln, err = net.Listen("tcp", h.addr)
		return err == nil
	}, waitTimeout, 10*time.Millisecond)
	h.start(ln)
}

// URL is the WebSocket endpoint.
func (h *testHub) URL() string { return "ws://" + h.addr + "/sync" }

// store returns tenant's store, made on first use.
func (h *testHub) store(_ context.Context, tenant string) (eventstore.Store, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.stores[tenant]
	if !ok {
		s = memory.New(eventstore.Config{Origin: "hub"})
		h.stores[tenant] = s
	}
	return s, nil
}

// tenant returns the hub's store for tenant.
func (h *testHub) tenant(tenant string) eventstore.Store {
	s, _ := h.store(context.Background(), tenant)
	return s
}

// token issues a token for tenant and subject, limited to streams.
func token(t testing.TB, tenant, subject string, streams ...string) string {
	t.Helper()
	return synctest.Token(t, testSecret, tenant, subject, streams...)
}

// backend opens device stores.
type backend struct {
	name string
	open func(t testing.TB, device string) deviceStore
}

func backends() []backend {
	return []backend{
		{"memory", func(t testing.TB, device string) deviceStore {
			s := memory.New(eventstore.Config{Origin: device})
			t.Cleanup(func() { _ = s.Close() })
			return s
		}},
		{"sqlite", func(t testing.TB, device string) deviceStore {
			return openSQLite(t, filepath.Join(t.TempDir(), device+".db"), device)
		}},
	}
}

func openSQLite(t testing.TB, path, device string) *sqlite.Store {
	t.Helper()
	return openSQLiteWith(t, path, eventstore.Config{Origin: device})
}

func openSQLiteWith(t testing.TB, path string, cfg eventstore.Config) *sqlite.Store {
	t.Helper()
	return tempsqlite.OpenAt(t, path, cfg)
}

// replicator returns a replicator of store for tenant with fast backoff.
func replicator(t testing.TB, h *testHub, store client.Store, tenant string, mod ...func(*client.Config)) *client.Replicator {
	t.Helper()
	cfg := client.Config{
		URL:     h.URL(),
		Token:   token(t, tenant, "device"),
		Backoff: client.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond},
	}
	for _, m := range mod {
		m(&cfg)
	}
	r, err := client.New(store, cfg)
	require.NoError(t, err)
	return r
}

// write appends n events to stream, one per call (as an app would).
func write(t testing.TB, s eventstore.Store, stream string, n int) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	for i := range n {
		evs, err := s.Append(context.Background(), eventstore.Write{Stream: stream, Events: []eventstore.Event{{
			Type: "note:added", Data: []byte(fmt.Sprintf(`{"n":%d}`, i)),
		}}})
		require.NoError(t, err)
		out = append(out, evs...)
	}
	return out
}

// syncOnce runs SyncOnce with a failure bound and requires success.
func syncOnce(t testing.TB, r *client.Replicator) client.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	st, err := r.SyncOnce(ctx)
	require.NoError(t, err)
	return st
}

// waitFor waits until s holds an event with id, or fails.
func waitFor(t testing.TB, s eventstore.Store, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, synctest.WaitForEvent(ctx, s, id))
}

// batchSize sets Config.BatchSize.
func batchSize(n int) func(*client.Config) {
	return func(c *client.Config) { c.BatchSize = n }
}

// sqliteOpen opens a SQLite store with its persisted origin.
func sqliteOpen(ctx context.Context, path string) (*sqlite.Store, error) {
	return sqlite.Open(ctx, path, sqlite.Options{})
}

// deviceStore is a device's store in these tests: what a Replicator and a
// Projector both need.
type deviceStore interface {
	client.Store
	eventstore.Checkpoints
}

// evictPair opens devices a and b with be, and their replicators for
// tenant t1 on h; b's evicts (Config.Evict).
func evictPair(t testing.TB, h *testHub, be backend) (a, b deviceStore, ra, rb *client.Replicator) {
	t.Helper()
	a, b = be.open(t, "a"), be.open(t, "b")
	ra, rb = replicator(t, h, a, "t1"), replicator(t, h, b, "t1", evictOn)
	return a, b, ra, rb
}

// subscribeBoth writes listA events spread over list/a and listB over
// list/b on a, syncs ra, then subscribes rb to both lists and syncs it.
func subscribeBoth(t testing.TB, a eventstore.Store, ra, rb *client.Replicator, listA, listB int) {
	t.Helper()
	writeSpread(t, a, "list/a", listA)
	writeSpread(t, a, "list/b", listB)
	syncOnce(t, ra)
	require.NoError(t, rb.Subscribe(context.Background(), "list/a/", "list/b/"))
	syncOnce(t, rb)
}

// evictingProjected returns b's replicator for tenant t1 on h, with
// Config.Evict and two projectors counting events per stream: "rebuilt",
// reset and replayed by an eviction, and "hooked", cleared by
// Config.OnEvict, which also appends the evicted streams to evicted when it
// is not nil.
func evictingProjected(t *testing.T, h *testHub, b deviceStore, evicted *[]string) (rb *client.Replicator, rebuilt, hooked *projector.Projector) {
	t.Helper()
	rebuilt, hooked = countsProjector(t, b, "rebuilt", true), countsProjector(t, b, "hooked", false)
	rb = replicator(t, h, b, "t1", func(c *client.Config) {
		c.Evict = true
		c.Projectors = []client.Projector{rebuilt, hooked}
		c.OnEvict = func(ctx context.Context, tx eventstore.Tx, streams []string) error {
			if evicted != nil {
				*evicted = append(*evicted, streams...)
			}
			kv := eventstore.KeyValuesOf(tx)
			m, err := perStream(ctx, kv, "hooked")
			if err != nil {
				return err
			}
			for _, s := range streams {
				delete(m, s)
			}
			return setPerStream(ctx, kv, "hooked", m)
		}
	})
	return rb, rebuilt, hooked
}

// catchUp runs CatchUp on each of ps and requires success.
func catchUp(t testing.TB, ps ...*projector.Projector) {
	t.Helper()
	for _, p := range ps {
		_, err := p.CatchUp(context.Background())
		require.NoError(t, err)
	}
}

// assertCounts checks that b's "rebuilt" and "hooked" read models (see
// evictingProjected) count exactly want per stream.
func assertCounts(t testing.TB, b eventstore.KeyValues, want map[string]int) {
	t.Helper()
	for _, key := range []string{"rebuilt", "hooked"} {
		got, err := perStream(context.Background(), b, key)
		require.NoError(t, err)
		assert.Equal(t, want, got, key)
	}
}

// syncHubDown stops h and requires r's SyncOnce to fail as unreachable.
func syncHubDown(t testing.TB, h *testHub, r *client.Replicator) {
	t.Helper()
	h.stop()
	_, err := r.SyncOnce(context.Background())
	require.ErrorIs(t, err, client.ErrUnreachable)
}

// assertAtHub checks that tenant t1's ledger on h holds each of events.
func assertAtHub(t testing.TB, h *testHub, events []eventstore.Event, msgAndArgs ...any) {
	t.Helper()
	hubHas := ledgerOf(t, h.tenant("t1"))
	for _, e := range events {
		assert.Contains(t, hubHas, e.ID, msgAndArgs...)
	}
}

// statusOf returns r's Status and requires success.
func statusOf(t testing.TB, r *client.Replicator) client.Status {
	t.Helper()
	st, err := r.Status(context.Background())
	require.NoError(t, err)
	return st
}
