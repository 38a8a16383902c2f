package hub_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/eventstore/postgres"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/internal/pgtest"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/hub/hubmetrics"
	"github.com/ferrysync/ferry/sync/hub/tenants"
	"github.com/ferrysync/ferry/sync/protocol"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// ioTimeout bounds every read of the test client, so a broken hub fails a
// test instead of hanging it.
const ioTimeout = 20 * time.Second

// tenantStores is the hub's pool of tenant stores (sync/hub/tenants) over
// an open function, closed when the test ends.
type tenantStores struct {
	*tenants.Pool
}

func newTenantStores(t testing.TB, open func(tenant string) (eventstore.Store, error)) *tenantStores {
	return newTenantPool(t, 0, open)
}

// newTenantPool is newTenantStores keeping at most maxOpen stores open (0:
// the default).
func newTenantPool(t testing.TB, maxOpen int, open func(tenant string) (eventstore.Store, error)) *tenantStores {
	pool := tenants.New(func(_ context.Context, tenant string) (tenants.Store, error) {
		return open(tenant)
	}, tenants.Options{MaxOpen: maxOpen})
	t.Cleanup(func() { _ = pool.Close() })
	return &tenantStores{Pool: pool}
}

// must returns tenant's store, held until the test ends, failing the test
// on error.
func (ts *tenantStores) must(t testing.TB, tenant string) eventstore.Store {
	t.Helper()
	l, release, err := ts.Acquire(context.Background(), tenant)
	require.NoError(t, err)
	t.Cleanup(release)
	return l.(eventstore.Store)
}

// storeBackend makes the tenant stores of a hub.
type storeBackend struct {
	name string
	open func(t testing.TB) *tenantStores
}

// backends returns the hub backends the shared tests run on: memory,
// SQLite (one file per tenant) and, when configured, PostgreSQL.
func backends() []storeBackend {
	return []storeBackend{
		{"memory", func(t testing.TB) *tenantStores {
			return newTenantStores(t, func(string) (eventstore.Store, error) {
				return memory.New(eventstore.Config{Origin: "hub"}), nil
			})
		}},
		{"sqlite", func(t testing.TB) *tenantStores {
			dir := t.TempDir()
			n := 0
			return newTenantStores(t, func(string) (eventstore.Store, error) {
				n++
				return sqlite.Open(context.Background(), filepath.Join(dir, fmt.Sprintf("t%d.db", n)),
					sqlite.Options{Config: eventstore.Config{Origin: "hub"}})
			})
		}},
		{"postgres", func(t testing.TB) *tenantStores {
			db := openPostgres(t, testSchema(t))
			return newTenantStores(t, func(tenant string) (eventstore.Store, error) {
				return db.Store(tenant, eventstore.Config{})
			})
		}},
	}
}

// testURL returns FERRY_TEST_POSTGRES_URL, or skips the test (fails it when
// FERRY_REQUIRE_POSTGRES=1).
func testURL(t testing.TB) string {
	t.Helper()
	return pgtest.URL(t)
}

// testSchema returns a fresh schema name, dropped when the test ends.
func testSchema(t testing.TB) string {
	t.Helper()
	return pgtest.Schema(t, "ferry_hub_test_")
}

// openPostgres opens a DB on schema, closed when the test ends.
func openPostgres(t testing.TB, schema string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), testURL(t), postgres.Options{Schema: schema, MaxConns: 8, StreamPositionIndex: true})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	return db
}

// harness is a hub on an httptest server.
type harness struct {
	srv    *hub.Server
	ts     *httptest.Server
	stores *tenantStores
}

// newHarness starts a hub over stores; mod adjusts its config.
func newHarness(t testing.TB, stores *tenantStores, mod func(*hub.Config)) *harness {
	t.Helper()
	cfg := hub.Config{Ledgers: stores, Secret: testSecret, NodeID: "test"}
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
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})
	return &harness{srv: srv, ts: ts, stores: stores}
}

// memHarness is a hub over memory stores.
func memHarness(t testing.TB, mod func(*hub.Config)) *harness {
	return newHarness(t, backends()[0].open(t), mod)
}

func (h *harness) url() string { return "ws" + strings.TrimPrefix(h.ts.URL, "http") + "/sync" }

// token returns a valid token for tenant, restricted to streams.
func token(t testing.TB, tenant string, streams ...string) string {
	t.Helper()
	tok, err := hub.IssueToken(testSecret, hub.Claims{Tenant: tenant, Subject: "device-1", Streams: streams, Expiry: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	return tok
}

// client is a minimal sync client for tests: it speaks the protocol on a
// gorilla/websocket connection and records what the hub sends.
type client struct {
	t       testing.TB
	ws      *websocket.Conn
	welcome *protocol.Welcome
	// pulled are the events received (Events and Live), in order.
	pulled []eventstore.Event
	// cursor is the last cursor received.
	cursor   int64
	caughtUp bool
	msgs     []protocol.Message // every message received after Welcome
}

// dialRaw opens a WebSocket to h with header and returns the response.
func dialRaw(h *harness, header http.Header) (*websocket.Conn, *http.Response, error) {
	return dialURL(h, "", header)
}

// dialURL opens a WebSocket to h's endpoint plus query.
func dialURL(h *harness, query string, header http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: ioTimeout}
	return d.Dial(h.url()+query, header)
}

// connect dials h with tok, says hello with cursor and streams, and reads
// the Welcome.
func connect(t testing.TB, h *harness, tok string, cursor int64, streams ...string) *client {
	t.Helper()
	return connectWith(t, h, tok, &protocol.Hello{Versions: []int{protocol.Version}, Client: "dev-" + eventstore.NewID()[20:], Cursor: cursor, Streams: streams})
}

// connectWith dials h with tok, says hello and reads the Welcome.
func connectWith(t testing.TB, h *harness, tok string, hello *protocol.Hello) *client {
	t.Helper()
	cursor := hello.Cursor
	ws, resp, err := dialRaw(h, http.Header{"Authorization": {"Bearer " + tok}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	require.NoError(t, err)
	c := &client{t: t, ws: ws, cursor: cursor}
	t.Cleanup(func() { _ = ws.Close() })
	c.send(hello)
	m, err := c.recv()
	require.NoError(t, err)
	w, ok := m.(*protocol.Welcome)
	require.True(t, ok, "want welcome, got %#v", m)
	c.welcome = w
	return c
}

func (c *client) send(m protocol.Message) {
	c.t.Helper()
	frame, err := protocol.Encode(m)
	require.NoError(c.t, err)
	c.sendRaw(frame)
}

func (c *client) sendRaw(frame []byte) {
	c.t.Helper()
	require.NoError(c.t, c.ws.SetWriteDeadline(time.Now().Add(ioTimeout)))
	require.NoError(c.t, c.ws.WriteMessage(websocket.TextMessage, frame))
}

// recv reads one message and records pulled events.
func (c *client) recv() (protocol.Message, error) {
	if err := c.ws.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		return nil, err
	}
	_, frame, err := c.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	m, err := protocol.Decode(frame, protocol.Limits{MaxFrameBytes: protocol.HardMaxFrameBytes, MaxEventsPerBatch: protocol.HardMaxEventsPerBatch})
	if err != nil {
		return nil, err
	}
	if c.welcome != nil {
		c.msgs = append(c.msgs, m)
	}
	switch m := m.(type) {
	case *protocol.Events:
		require.False(c.t, c.caughtUp, "events after caught_up")
		c.pulled = append(c.pulled, stored(m.Events)...)
		c.cursor = m.Cursor
	case *protocol.Live:
		require.True(c.t, c.caughtUp, "live before caught_up")
		c.pulled = append(c.pulled, stored(m.Events)...)
		c.cursor = m.Cursor
	case *protocol.CaughtUp:
		c.caughtUp = true
	}
	return m, nil
}

// until reads messages until stop returns true for one.
func (c *client) until(stop func(protocol.Message) bool) protocol.Message {
	c.t.Helper()
	for {
		m, err := c.recv()
		require.NoError(c.t, err)
		if stop(m) {
			return m
		}
	}
}

// push sends a batch and returns its Ack.
func (c *client) push(batch string, events ...eventstore.Event) *protocol.Ack {
	c.t.Helper()
	c.send(&protocol.Push{Batch: batch, Events: wire(events)})
	m := c.until(func(m protocol.Message) bool { _, ok := m.(*protocol.Ack); return ok })
	ack := m.(*protocol.Ack)
	require.Equal(c.t, batch, ack.Batch)
	require.Len(c.t, ack.Results, len(events))
	return ack
}

// catchUp reads until CaughtUp.
func (c *client) catchUp() {
	c.t.Helper()
	if c.caughtUp {
		return
	}
	c.until(func(m protocol.Message) bool { _, ok := m.(*protocol.CaughtUp); return ok })
}

// waitPulled reads until the client has pulled n events.
func (c *client) waitPulled(n int) {
	c.t.Helper()
	for len(c.pulled) < n {
		_, err := c.recv()
		require.NoError(c.t, err)
	}
}

// closed reads until the connection ends and returns the close code and
// the Error message received before it (nil when none).
func (c *client) closed() (int, *protocol.Error) {
	c.t.Helper()
	var perr *protocol.Error
	for {
		m, err := c.recv()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, perr
			}
			var pe *protocol.Error
			require.False(c.t, errors.As(err, &pe), "undecodable frame: %v", err)
			return websocket.CloseAbnormalClosure, perr
		}
		if e, ok := m.(*protocol.Error); ok {
			perr = e
		}
	}
}

// newEvent returns a valid client event on stream.
func newEvent(stream string) eventstore.Event {
	return eventstore.Event{
		ID: eventstore.NewID(), Stream: stream, Type: "note:added",
		Data: []byte(`{"n":1}`), Created: eventstore.TimestampOf(time.Now()), Origin: "dev-1",
	}
}

// newEvents returns n valid client events on stream.
func newEvents(n int, stream string) []eventstore.Event {
	out := make([]eventstore.Event, n)
	for i := range out {
		out[i] = newEvent(stream)
	}
	return out
}

// wire returns events as they travel.
func wire(events []eventstore.Event) []protocol.Event {
	out := make([]protocol.Event, len(events))
	for i, e := range events {
		out[i] = protocol.FromStored(e)
	}
	return out
}

// stored returns events as a store takes them in.
func stored(events []protocol.Event) []eventstore.Event {
	out := make([]eventstore.Event, len(events))
	for i, e := range events {
		out[i] = protocol.ToStored(e)
	}
	return out
}

// head returns the head of s.
func head(t testing.TB, s hub.Ledger) int64 {
	t.Helper()
	h, err := s.Head(context.Background())
	require.NoError(t, err)
	return h
}

// seed inserts events into s as if pushed earlier.
func seed(t testing.TB, s hub.Ledger, events []eventstore.Event) {
	t.Helper()
	for len(events) > 0 {
		n := min(len(events), 500)
		_, err := s.Insert(context.Background(), events[:n]...)
		require.NoError(t, err)
		events = events[n:]
	}
}

// requireHubOrder checks that events have hub positions from+1, from+2, ...
func requireHubOrder(t testing.TB, events []eventstore.Event, from int64) {
	t.Helper()
	for i, e := range events {
		require.Equal(t, from+int64(i)+1, e.HubPosition, "event %d", i)
	}
}
