// Package projectortest is the shared test suite of the projector package:
// dispatch gating, checkpointed projection, effects, replay and rebuild,
// run against any eventstore backend. Each backend's test calls Run.
package projectortest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
)

// Opener returns a fresh, empty store configured with cfg (whose OnAppend
// carries the effects hook). It registers t.Cleanup to close the store.
type Opener func(t *testing.T, cfg eventstore.Config) projector.Store

// Event types used by the suite.
const (
	TaskCreated = "task:created"
	TaskRenamed = "task:renamed"
)

// Task is the payload of both suite event types.
type Task struct {
	Title string `json:"title"`
}

// Registry returns a registry of the suite's event types.
func Registry() *eventstore.Registry {
	return eventstore.NewRegistry(
		eventstore.EventType{Name: TaskCreated, Data: eventstore.Required("title")},
		eventstore.EventType{Name: TaskRenamed, Data: eventstore.Required("title")},
	)
}

// Run runs the whole suite, each test on fresh stores from open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"Matrix", testMatrix},
		{"InsertRecordsNoEffects", testInsertRecordsNoEffects},
		{"RebuildFiresNoOnce", testRebuildFiresNoOnce},
		{"RebuildReproducesLive", testRebuildReproducesLive},
		{"LateOutdatedDoesNotOverwrite", testLateOutdated},
		{"LiveFollowAfterCatchUp", testLiveFollow},
		{"Atomicity", testAtomicity},
		{"RetryPolicy", testRetryPolicy},
		{"SkipPolicy", testSkipPolicy},
		{"ConcurrentRunners", testConcurrentRunners},
		{"Progress", testProgress},
		{"EffectsLeftoversAfterCrash", testEffectsLeftovers},
		{"EffectsPrompt", testEffectsPrompt},
		{"EffectsRetryParkRetryDiscard", testEffectsAdmin},
		{"Versioned", testVersioned},
		{"BatchHandlers", testBatchHandlers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// env is one store with a handler set, an effects outbox and a recorder.
type env struct {
	t     *testing.T
	store projector.Store
	h     *projector.Handlers
	fx    *projector.Effects
	rec   *Recorder
}

// newEnv opens a store with the effects hook installed and the recording
// handlers registered. extra registers more handlers before the outbox is
// built.
func newEnv(t *testing.T, open Opener, opts projector.EffectOptions, extra func(h *projector.Handlers)) *env {
	t.Helper()
	h := projector.NewHandlers()
	rec := NewRecorder()
	rec.Register(h, TaskCreated, TaskRenamed)
	if extra != nil {
		extra(h)
	}
	fx, err := projector.NewEffects(h, opts)
	require.NoError(t, err)
	store := open(t, eventstore.Config{Registry: Registry(), OnAppend: fx.Hook})
	fx.Attach(store)
	return &env{t: t, store: store, h: h, fx: fx, rec: rec}
}

func (e *env) projector(name string, opts projector.Options) *projector.Projector {
	e.t.Helper()
	opts.Handlers = e.h
	p, err := projector.New(name, e.store, opts)
	require.NoError(e.t, err)
	return p
}

// Recorder records which handler kinds ran for which event IDs. Its On
// handlers also maintain a read model in the store's key/value state under
// "rm/<stream>" (the latest title), written through the transaction.
type Recorder struct {
	mu    sync.Mutex
	calls map[string][]string // event ID -> kinds in run order
	once  chan string
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{calls: make(map[string][]string), once: make(chan string, 1<<16)}
}

// Register adds a once, an on and an all handler for each type to h.
func (r *Recorder) Register(h *projector.Handlers, types ...string) {
	for _, typ := range types {
		projector.Once(h, typ, "record", func(ctx context.Context, eff projector.Effect, d Task) error {
			r.add(eff.Key, "once")
			r.once <- eff.Key
			return nil
		})
		projector.On(h, typ, func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d Task) error {
			r.add(e.ID, "on")
			return eventstore.KeyValuesOf(tx).SetState(ctx, ReadModelPrefix+e.Stream, []byte(d.Title))
		})
		projector.All(h, typ, func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d Task) error {
			r.add(e.ID, "all")
			return nil
		})
	}
}

// ReadModelPrefix prefixes the Recorder's read-model keys.
const ReadModelPrefix = "rm/"

func (r *Recorder) add(id, kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[id] = append(r.calls[id], kind)
}

// Calls returns the kinds that ran for id, in order.
func (r *Recorder) Calls(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls[id])
}

// Count returns how many times kind ran, over all events.
func (r *Recorder) Count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ks := range r.calls {
		for _, k := range ks {
			if k == kind {
				n++
			}
		}
	}
	return n
}

// ReadModel returns the Recorder's read model: stream -> title.
func ReadModel(t *testing.T, store projector.Store) map[string]string {
	t.Helper()
	kvs, err := store.ListState(context.Background(), ReadModelPrefix)
	require.NoError(t, err)
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		out[kv.Key[len(ReadModelPrefix):]] = string(kv.Value)
	}
	return out
}

// ResetReadModel returns a projector.ResetFunc deleting the read model's
// keys as they are now.
func ResetReadModel(t *testing.T, store projector.Store) projector.ResetFunc {
	t.Helper()
	kvs, err := store.ListState(context.Background(), ReadModelPrefix)
	require.NoError(t, err)
	return func(ctx context.Context, tx eventstore.Tx) error {
		for _, kv := range kvs {
			if err := eventstore.KeyValuesOf(tx).DeleteState(ctx, kv.Key); err != nil {
				return err
			}
		}
		return nil
	}
}

// Local returns an event to Append.
func Local(typ, stream, title string) eventstore.Event {
	return eventstore.Event{Stream: stream, Type: typ, Data: taskData(title)}
}

// Remote returns an event created elsewhere, for Insert, at created.
func Remote(typ, stream, title string, created eventstore.Timestamp) eventstore.Event {
	return eventstore.Event{ID: eventstore.NewID(), Stream: stream, Type: typ, Data: taskData(title),
		Created: created, Origin: "remote-device"}
}

func taskData(title string) json.RawMessage {
	b, _ := json.Marshal(Task{Title: title})
	return b
}

func appendOne(t *testing.T, store projector.Store, e eventstore.Event) eventstore.Event {
	t.Helper()
	out, err := store.Append(context.Background(), eventstore.Write{Stream: e.Stream, Events: []eventstore.Event{e}})
	require.NoError(t, err)
	require.Len(t, out, 1)
	return out[0]
}

func insertOne(t *testing.T, store projector.Store, e eventstore.Event) eventstore.InsertResult {
	t.Helper()
	res, err := store.Insert(context.Background(), e)
	require.NoError(t, err)
	require.Len(t, res, 1)
	return res[0]
}

// now returns a timestamp offset from the wall clock.
func now(offset time.Duration) eventstore.Timestamp {
	return eventstore.TimestampOf(time.Now().Add(offset))
}

// testCtx returns a context that bounds a test's waiting (a failure guard,
// not a timing assertion).
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// ledger returns every event of the store.
func ledger(t *testing.T, store projector.Store) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	for e, err := range store.ReadAll(context.Background(), 0, 0) {
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

func title(i int) string { return fmt.Sprintf("title %d", i) }
