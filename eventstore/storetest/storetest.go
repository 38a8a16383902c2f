// Package storetest is the one conformance suite every eventstore backend
// runs. A backend's test calls Run with a function that opens a fresh, empty
// store; Run runs every check as a t.Run subtest, each on its own store.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, cfg eventstore.Config) eventstore.Store {
//			s := memory.New(cfg)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The open function must return an empty store configured with cfg (use
// cfg.Registry, cfg.Clock, cfg.Origin and cfg.OnAppend as given) and register a
// t.Cleanup that closes it. Close must be safe to call twice: some checks
// close the store themselves.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/internal/backend"
	"github.com/ferrysync/ferry/internal/testutil"
)

// Option configures Run.
type Option func(*config)

type config struct {
	tenants func(t *testing.T, cfg eventstore.Config) (a, b eventstore.Store)
	largeN  int
}

// WithTenants enables the tenant-isolation checks. open returns two fresh,
// empty stores of different tenants sharing one database (both configured
// with cfg); it registers t.Cleanup to close them. Without this option those
// checks are skipped.
func WithTenants(open func(t *testing.T, cfg eventstore.Config) (a, b eventstore.Store)) Option {
	return func(c *config) { c.tenants = open }
}

// WithLargeN sets the number of events in the large-stream check
// (DefaultLargeN by default). The allocation bound is only asserted when n
// is at least 10,000.
func WithLargeN(n int) Option {
	return func(c *config) { c.largeN = n }
}

// DefaultLargeN is the size of the stream the large-stream check builds.
const DefaultLargeN = 100_000

// Event types registered in the Registry the suite passes to open.
const (
	// TypeCreated requires Data {"title": non-empty string}.
	TypeCreated = "test:created"
	// TypeRenamed accepts any JSON.
	TypeRenamed = "test:renamed"
	// TypeNote accepts any JSON.
	TypeNote = "test:note"
	// TypeCounted accepts any JSON and is commutative: never Outdated.
	TypeCounted = "test:counted"
)

// Origin is the cfg.Origin the suite passes to open.
const Origin = "storetest-node"

// store is what the checks use: the core Store and every capability but
// the outbox, which only edge backends implement (see edge).
type store = backend.ServerStore

// edge is a store with the sync outbox: what the outbox checks use.
type edge = backend.EdgeStore

// harness is what every check receives.
type harness struct {
	openStore func(t *testing.T, cfg eventstore.Config) eventstore.Store
	cfg       config
}

// open opens a fresh store configured with cfg; it must have every
// capability the checks use.
func (h *harness) open(t *testing.T, cfg eventstore.Config) store {
	t.Helper()
	return capable[store](t, h.openStore(t, cfg))
}

// isA reports whether v implements C.
func isA[C any](v any) bool { _, ok := v.(C); return ok }

// capable returns s as C, failing the test when s lacks it.
func capable[C any](t *testing.T, s any) C {
	t.Helper()
	c, err := eventstore.As[C](s)
	require.NoError(t, err)
	return c
}

// fullTx is the Tx of a store: the core and the write halves of the
// capabilities the checks use.
type fullTx = backend.ServerTx

// txAll returns tx with the capabilities of a store's Tx.
func txAll(t *testing.T, tx eventstore.Tx) fullTx {
	t.Helper()
	return capable[fullTx](t, tx)
}

// txOutbox returns tx's outbox half, which an edge store's Tx has.
func txOutbox(t *testing.T, tx eventstore.Tx) eventstore.OutboxWriter {
	t.Helper()
	return capable[eventstore.OutboxWriter](t, tx)
}

// outbox returns s's outbox, which the checks that call it need: they run
// only on backends that have one (see Run).
func outbox(t *testing.T, s store) edge {
	t.Helper()
	return capable[edge](t, s)
}

type check struct {
	name string
	fn   func(t *testing.T, h *harness)
}

// Run runs the conformance suite. open returns a fresh, empty store
// configured with cfg and registers a t.Cleanup that closes it.
func Run(t *testing.T, open func(t *testing.T, cfg eventstore.Config) eventstore.Store, opts ...Option) {
	h := &harness{openStore: open, cfg: config{largeN: DefaultLargeN}}
	for _, o := range opts {
		o(&h.cfg)
	}
	groups := []struct {
		name   string
		checks []check
	}{
		{"Read", readChecks},
		{"Insert", insertChecks},
		{"Append", appendChecks},
		{"Hostile", hostileChecks},
		{"Ledger", ledgerChecks},
		{"Snapshots", snapshotChecks},
		{"Side", sideChecks},
		{"Tenants", tenantChecks},
		{"Large", largeChecks},
	}
	// The outbox and unknown-event checks run where the store has those
	// capabilities: on edge backends. A hub backend (PostgreSQL) has
	// neither, and says so at compile time.
	probe := open(t, Config())
	for _, c := range []struct {
		has    bool
		name   string
		checks []check
		what   string
	}{
		{isA[eventstore.Outbox](probe), "Outbox", outboxChecks, "eventstore.Outbox"},
		{isA[eventstore.Outbox](probe), "Repair", repairChecks, "eventstore.Outbox (whose Tx is an eventstore.Repairer)"},
		{isA[eventstore.Reviver](probe), "Unknown", unknownChecks, "eventstore.Reviver"},
		{isA[eventstore.Outbox](probe), "Evict", evictChecks, "eventstore.Outbox (whose Tx is an eventstore.Evicter)"},
	} {
		if !c.has {
			t.Logf("storetest: the store has no %s; the %s checks do not apply", c.what, c.name)
			continue
		}
		groups = append(groups, struct {
			name   string
			checks []check
		}{c.name, c.checks})
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.checks {
				t.Run(c.name, func(t *testing.T) { c.fn(t, h) })
			}
		})
	}
}

// Config returns the configuration the suite uses by default: its test
// Registry, a fresh Clock and Origin.
func Config() eventstore.Config {
	return eventstore.Config{Registry: Registry(), Clock: eventstore.NewClock(), Origin: Origin}
}

// Registry returns a registry of the suite's event types.
func Registry() *eventstore.Registry {
	type created struct {
		Title string `json:"title"`
	}
	return eventstore.NewRegistry(
		eventstore.EventType{Name: TypeCreated, Data: eventstore.JSON(func(c created) error {
			if c.Title == "" {
				return eventstore.FieldError("title", "must not be empty")
			}
			return nil
		})},
		eventstore.EventType{Name: TypeRenamed},
		eventstore.EventType{Name: TypeNote},
		eventstore.EventType{Name: TypeCounted, Commutative: true},
	)
}

// store opens a fresh store with the default configuration.
func (h *harness) store(t *testing.T) store {
	t.Helper()
	return h.open(t, Config())
}

// base is a timestamp an hour in the past: remote events stamped from it are
// well inside any clock's drift tolerance.
func base() eventstore.Timestamp {
	return eventstore.TimestampOf(time.Now().Add(-time.Hour))
}

// at returns base advanced by n milliseconds.
func at(b eventstore.Timestamp, n int) eventstore.Timestamp {
	return eventstore.MakeTimestamp(b.Millis()+int64(n), 0)
}

// remote builds an event as if created on another node.
func remote(stream, typ string, created eventstore.Timestamp) eventstore.Event {
	return eventstore.Event{
		ID: eventstore.NewID(), Stream: stream, Type: typ, Created: created,
		Origin: "remote-node", Data: data(typ, 0),
	}
}

// local builds an event for Append.
func local(typ string, i int) eventstore.Event {
	return eventstore.Event{Type: typ, Data: data(typ, i)}
}

func data(typ string, i int) json.RawMessage {
	if typ == TypeCreated {
		return json.RawMessage(fmt.Sprintf(`{"title":"t%d"}`, i))
	}
	return json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))
}

// insert inserts events and requires success.
func insert(t *testing.T, s store, events ...eventstore.Event) []eventstore.InsertResult {
	t.Helper()
	res, err := s.Insert(t.Context(), events...)
	require.NoError(t, err)
	require.Len(t, res, len(events))
	return res
}

// appendTo appends events to stream with Any and requires success.
func appendTo(t *testing.T, s store, stream string, events ...eventstore.Event) []eventstore.Event {
	t.Helper()
	out, err := s.Append(t.Context(), eventstore.Write{Stream: stream, Events: events})
	require.NoError(t, err)
	require.Len(t, out, len(events))
	return out
}

// head returns s's head, requiring no error.
func head(t *testing.T, s store) int64 {
	t.Helper()
	h, err := s.Head(t.Context())
	require.NoError(t, err)
	return h
}

// version returns the stream version, requiring no error.
func version(t *testing.T, s store, stream string) int64 {
	t.Helper()
	v, err := s.StreamVersion(t.Context(), stream)
	require.NoError(t, err)
	return v
}

// assertEmpty checks that s holds no events at all.
func assertEmpty(t *testing.T, s store) {
	t.Helper()
	assert.Zero(t, head(t, s), "head")
	assert.Empty(t, testutil.Collect(t, s.ReadAll(t.Context(), 0, 0)), "ledger")
	streams, err := s.ListStreams(t.Context(), eventstore.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, streams, "streams")
}

// guard returns a context that bounds a check that could otherwise hang on a
// broken backend. It is a deadlock guard, not a timing assertion.
func guard(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func si(name string, version int64) eventstore.StreamInfo {
	return eventstore.StreamInfo{Name: name, Version: version}
}

func kv(key, value string) eventstore.KeyValue {
	return eventstore.KeyValue{Key: key, Value: []byte(value)}
}

// Outcome is what a check compares of an eventstore.InsertResult.
type Outcome struct {
	ID       string
	Inserted bool
	Outdated bool
	Conflict bool
	Position int64
}

// OutcomeOf returns the outcome of r.
func OutcomeOf(r eventstore.InsertResult) Outcome {
	return Outcome{ID: r.Event.ID, Inserted: r.Inserted, Outdated: r.Event.Outdated, Conflict: r.Conflict, Position: r.Event.Position}
}

// Outcomes returns the outcomes of results, in order.
func Outcomes(results []eventstore.InsertResult) []Outcome {
	out := make([]Outcome, len(results))
	for i, r := range results {
		out[i] = OutcomeOf(r)
	}
	return out
}
