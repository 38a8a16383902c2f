package synctest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/reducer"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/synctest"
)

// The test app: a to-do list whose tasks are aggregates.

// Task is the aggregate. History lists every title in fold order, so two
// replicas agree on it only if they fold the same events in the same order.
type Task struct {
	aggregate.Root
	Title   string   `json:"title"`
	History []string `json:"history"`
}

// TitleData is the payload of task:created and task:renamed.
type TitleData struct {
	Title string `json:"title"`
}

func taskReducer() *reducer.Reducer[*Task] {
	r := reducer.New("task", func() *Task { return &Task{} })
	fold := func(t *Task, _ eventstore.Event, d TitleData) *Task {
		t.Title = d.Title
		t.History = append(t.History, d.Title)
		return t
	}
	reducer.On(r, "task:created", fold)
	reducer.On(r, "task:renamed", fold)
	return r
}

func registry() *eventstore.Registry {
	return eventstore.NewRegistry(
		eventstore.EventType{Name: "task:created", Data: eventstore.Required("title")},
		eventstore.EventType{Name: "task:renamed", Data: eventstore.Required("title")},
	)
}

// createTask creates a task; the device may not know that another device
// created the same id while offline.
func createTask(t *Task, d TitleData) error {
	if t.Exists() {
		return aggregate.Reject("task %s exists", t.ID())
	}
	return t.Raise("task:created", d)
}

// renameTask renames an existing task.
func renameTask(t *Task, d TitleData) error {
	if !t.Exists() {
		return aggregate.ErrAggregateNotFound
	}
	return t.Raise("task:renamed", d)
}

// effectSink records the Once effects of every device: event id -> the
// devices the effect ran on.
type effectSink struct {
	mu  sync.Mutex
	ran map[string][]string
}

func newEffectSink() *effectSink { return &effectSink{ran: make(map[string][]string)} }

func (s *effectSink) record(id, device string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ran[id] = append(s.ran[id], device)
}

func (s *effectSink) snapshot() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]string, len(s.ran))
	for k, v := range s.ran {
		out[k] = slices.Clone(v)
	}
	return out
}

// readModel is one row of the rm_tasks table.
type readModel struct {
	Stream       string
	CreatedTitle string
	Title        string
	Events       int
}

const readModelDDL = `CREATE TABLE IF NOT EXISTS rm_tasks (
	stream TEXT PRIMARY KEY,
	created_title TEXT NOT NULL DEFAULT '',
	title TEXT NOT NULL DEFAULT '',
	events INTEGER NOT NULL DEFAULT 0)`

// appHandlers returns the app's handlers: read-model columns kept by On
// handlers (last writer by (Created, ID) wins, through the Outdated gate),
// an event counter kept by All handlers, and Once effects that record
// into sink.
func appHandlers(device string, sink *effectSink) *projector.Handlers {
	h := projector.NewHandlers()
	upsert := func(col string) func(context.Context, eventstore.Tx, eventstore.Event, TitleData) error {
		q := `INSERT INTO rm_tasks (stream, ` + col + `) VALUES (?, ?)
ON CONFLICT (stream) DO UPDATE SET ` + col + ` = excluded.` + col
		return func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d TitleData) error {
			_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx, q, e.Stream, d.Title)
			return err
		}
	}
	projector.On(h, "task:created", upsert("created_title"))
	projector.On(h, "task:renamed", upsert("title"))
	count := func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, _ TitleData) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx, `INSERT INTO rm_tasks (stream, events) VALUES (?, 1)
ON CONFLICT (stream) DO UPDATE SET events = events + 1`, e.Stream)
		return err
	}
	projector.All(h, "task:created", count)
	projector.All(h, "task:renamed", count)
	effect := func(_ context.Context, eff projector.Effect, _ TitleData) error {
		sink.record(eff.Event.ID, device)
		return nil
	}
	projector.Once(h, "task:created", "notify-created", effect)
	projector.Once(h, "task:renamed", "notify-renamed", effect)
	return h
}

// device is one app instance: a SQLite store with the app's projector,
// effects outbox, aggregate repository and replicator.
type device struct {
	t       testing.TB
	name    string
	store   *sqlite.Store
	fx      *projector.Effects
	proj    *projector.Projector
	tasks   *aggregate.Repository[*Task]
	rep     *client.Replicator
	written []eventstore.Event // events this device appended
}

func newDevice(t testing.TB, name, url, tok string, sink *effectSink) *device {
	t.Helper()
	ctx := context.Background()
	h := appHandlers(name, sink)
	fx, err := projector.NewEffects(h, projector.EffectOptions{})
	require.NoError(t, err)
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), name+".db"), sqlite.Options{Config: eventstore.Config{
		Origin: name, Registry: registry(), OnAppend: fx.Hook,
	}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	fx.Attach(store)
	require.NoError(t, store.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx, readModelDDL)
		return err
	}))
	proj, err := projector.New("tasks", store, projector.Options{Handlers: h})
	require.NoError(t, err)
	rep, err := client.New(store, client.Config{URL: url, Token: tok, BatchSize: 7,
		Backoff: client.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}})
	require.NoError(t, err)
	return &device{t: t, name: name, store: store, fx: fx, proj: proj,
		tasks: aggregate.NewRepository(store, taskReducer()), rep: rep}
}

// exec runs a command on task id and records the events it raised.
func (d *device) exec(id string, cmd aggregate.Command[*Task, TitleData], title string) {
	d.t.Helper()
	ctx := context.Background()
	before, err := d.store.Head(ctx)
	require.NoError(d.t, err)
	_, err = aggregate.Execute(ctx, d.tasks, id, cmd, TitleData{Title: title})
	require.NoError(d.t, err, "%s: %s %s", d.name, id, title)
	for e, err := range d.store.ReadAll(ctx, before, 0) {
		require.NoError(d.t, err)
		if !e.Hydrated {
			d.written = append(d.written, e)
		}
	}
}

// effects runs the due Once effects.
func (d *device) effects() int {
	d.t.Helper()
	n, err := d.fx.RunDue(context.Background())
	require.NoError(d.t, err)
	return n
}

// sync runs SyncOnce, projects what arrived and runs due effects.
func (d *device) sync() client.Stats {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	st, err := d.rep.SyncOnce(ctx)
	require.NoError(d.t, err, d.name)
	_, err = d.proj.CatchUp(ctx)
	require.NoError(d.t, err, d.name)
	d.effects()
	return st
}

// readModel returns the rows of rm_tasks by stream.
func (d *device) readModel() []readModel {
	d.t.Helper()
	ctx := context.Background()
	var out []readModel
	require.NoError(d.t, d.store.Update(ctx, func(tx eventstore.Tx) error {
		rows, err := tx.(eventstore.SQLTx).SQL().QueryContext(ctx,
			`SELECT stream, created_title, title, events FROM rm_tasks ORDER BY stream`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r readModel
			if err := rows.Scan(&r.Stream, &r.CreatedTitle, &r.Title, &r.Events); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	}))
	return out
}

// expectedReadModel computes the read model from a ledger: per stream, the
// title of the greatest (Created, ID) event of each type and the count.
func expectedReadModel(t testing.TB, ledger []eventstore.Event) []readModel {
	t.Helper()
	type best struct {
		created eventstore.Timestamp
		id      string
	}
	rows := map[string]*readModel{}
	bests := map[string]best{}
	for _, e := range ledger {
		r := rows[e.Stream]
		if r == nil {
			r = &readModel{Stream: e.Stream}
			rows[e.Stream] = r
		}
		r.Events++
		key := e.Stream + "\x00" + e.Type
		b, ok := bests[key]
		if ok && (e.Created < b.created || e.Created == b.created && e.ID < b.id) {
			continue
		}
		bests[key] = best{e.Created, e.ID}
		d, err := decodeTitle(e)
		require.NoError(t, err)
		switch e.Type {
		case "task:created":
			r.CreatedTitle = d
		case "task:renamed":
			r.Title = d
		}
	}
	out := make([]readModel, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b readModel) int {
		switch {
		case a.Stream < b.Stream:
			return -1
		case a.Stream > b.Stream:
			return 1
		}
		return 0
	})
	return out
}

// ledger reads s's whole ledger, failing the test on error.
func ledger(t testing.TB, s eventstore.Store) []eventstore.Event {
	t.Helper()
	events, err := synctest.ReadLedger(context.Background(), s)
	require.NoError(t, err)
	return events
}

// sortedIDs returns the IDs of events, sorted.
func sortedIDs(events []eventstore.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	slices.Sort(out)
	return out
}

// streamOrder returns the IDs of stream in (Created, ID) order.
func streamOrder(t testing.TB, s eventstore.Store, stream string) []string {
	t.Helper()
	var out []string
	for e, err := range s.ReadStream(context.Background(), stream, eventstore.ReadOptions{}) {
		require.NoError(t, err)
		out = append(out, e.ID)
	}
	return out
}

// noteEvents returns n events for Append on stream, with a payload of
// about pad bytes.
func noteWrites(stream string, n, pad int) []eventstore.Write {
	w := eventstore.Write{Stream: stream}
	filler := make([]byte, pad)
	for i := range filler {
		filler[i] = 'a' + byte(i%26)
	}
	for i := range n {
		w.Events = append(w.Events, eventstore.Event{Type: "note:added", Data: fmt.Appendf(nil, `{"n":%d,"pad":%q}`, i, filler)})
	}
	return []eventstore.Write{w}
}

func decodeTitle(e eventstore.Event) (string, error) {
	var d TitleData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return "", fmt.Errorf("event %s: %w", e.ID, err)
	}
	return d.Title, nil
}
