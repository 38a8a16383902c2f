// Command quickstart is a tour of Ferry's local side in one file: a SQLite
// event store, a task aggregate with commands, a projector keeping a SQL read
// model in the same database file, a side effect that fires exactly once for
// local events, and edits that arrive late "from another device".
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/reducer"
)

// Task is the aggregate.
type Task struct {
	aggregate.Root
	Title string `json:"title"`
	Done  bool   `json:"done"`
}

// Title is the payload of task:created and task:renamed.
type Title struct {
	Title string `json:"title"`
}

// Validate implements aggregate.Validator: it runs before any state loads.
func (t Title) Validate() error {
	if strings.TrimSpace(t.Title) == "" {
		return aggregate.Invalid("title", "must not be empty")
	}
	return nil
}

func taskReducer() *reducer.Reducer[*Task] {
	r := reducer.New("task", func() *Task { return &Task{} })
	reducer.On(r, "task:created", func(t *Task, _ eventstore.Event, d Title) *Task { t.Title = d.Title; return t })
	reducer.On(r, "task:renamed", func(t *Task, _ eventstore.Event, d Title) *Task { t.Title = d.Title; return t })
	r.OnRaw("task:completed", func(t *Task, _ eventstore.Event) *Task { t.Done = true; return t })
	return r
}

func create(t *Task, in Title) error {
	if t.Exists() {
		return aggregate.Reject("task %s exists", t.ID())
	}
	return t.Raise("task:created", in)
}

func rename(t *Task, in Title) error {
	if !t.Exists() {
		return aggregate.ErrAggregateNotFound
	}
	return t.Raise("task:renamed", in)
}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer) error {
	dir, err := os.MkdirTemp("", "ferry-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Event types are registered with validators: bad input never lands.
	titled := eventstore.JSON(func(d Title) error { return d.Validate() })
	registry := eventstore.NewRegistry(
		eventstore.EventType{Name: "task:created", Data: titled},
		eventstore.EventType{Name: "task:renamed", Data: titled},
		eventstore.EventType{Name: "task:completed"},
	)

	// Handlers: On keeps the read model current, Once is a side effect.
	h := projector.NewHandlers()
	upsert := func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d Title) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx,
			`INSERT INTO tasks(id, title) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET title = excluded.title`, e.Stream, d.Title)
		return err
	}
	projector.On(h, "task:created", upsert)
	projector.On(h, "task:renamed", upsert)
	projector.On(h, "task:completed", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, _ struct{}) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx, `UPDATE tasks SET done = 1 WHERE id = ?`, e.Stream)
		return err
	})
	projector.Once(h, "task:created", "announce", func(ctx context.Context, eff projector.Effect, d Title) error {
		fmt.Fprintf(w, "  side effect: announce %q (runs once, on this device only)\n", d.Title)
		return nil
	})
	effects, err := projector.NewEffects(h, projector.EffectOptions{})
	if err != nil {
		return err
	}

	store, err := sqlite.Open(ctx, filepath.Join(dir, "laptop.db"), sqlite.Options{
		Config: eventstore.Config{Registry: registry, Origin: "laptop", OnAppend: effects.Hook},
	})
	if err != nil {
		return err
	}
	defer store.Close()
	effects.Attach(store)
	err = store.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx,
			`CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, title TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0)`)
		return err
	})
	if err != nil {
		return err
	}
	readModel, err := projector.New("tasks", store, projector.Options{Handlers: h})
	if err != nil {
		return err
	}

	fmt.Fprintln(w, "1. commands on the laptop (offline)")
	tasks := aggregate.NewRepository(store, taskReducer())
	if _, err := aggregate.Execute(ctx, tasks, "task-1", create, Title{"buy milk"}); err != nil {
		return err
	}
	offlineEdit := eventstore.TimestampOf(time.Now()) // the phone's edit happens about now...
	time.Sleep(5 * time.Millisecond)
	if _, err := aggregate.Execute(ctx, tasks, "task-1", rename, Title{"buy oat milk"}); err != nil {
		return err
	}
	_, err = aggregate.Execute(ctx, tasks, "task-1", rename, Title{"  "})
	fmt.Fprintln(w, "  invalid rename refused:", errors.Is(err, aggregate.ErrInvalidCommand))
	if _, err := effects.RunDue(ctx); err != nil {
		return err
	}

	fmt.Fprintln(w, "2. the phone's offline edits arrive through sync")
	// ...but reaches the laptop only now: it sorts before the laptop's rename.
	results, err := store.Insert(ctx,
		eventstore.Event{ID: eventstore.NewID(), Stream: "task-1", Type: "task:renamed",
			Data: []byte(`{"title":"buy soy milk"}`), Created: offlineEdit, Origin: "phone"},
		eventstore.Event{ID: eventstore.NewID(), Stream: "task-1", Type: "task:completed",
			Created: offlineEdit + 1, Origin: "phone"},
	)
	if err != nil {
		return err
	}
	for _, r := range results {
		fmt.Fprintf(w, "  inserted=%v outdated=%v\n", r.Inserted, r.Event.Outdated)
	}

	if _, err := readModel.CatchUp(ctx); err != nil {
		return err
	}
	if _, err := effects.RunDue(ctx); err != nil {
		return err
	}

	fmt.Fprintln(w, "3. the stream, folded in HLC order on every replica")
	for e, err := range store.ReadStream(ctx, "task-1", eventstore.ReadOptions{}) {
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %-15s origin=%-6s hydrated=%-5v outdated=%v\n", e.Type, e.Origin, e.Hydrated, e.Outdated)
	}
	task, err := tasks.Load(ctx, "task-1")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  aggregate: title=%q done=%v version=%d\n", task.Title, task.Done, task.Version())

	fmt.Fprintln(w, "4. the read model (outdated rename did not clobber the newer title)")
	var title string
	var done bool
	err = store.Update(ctx, func(tx eventstore.Tx) error {
		return tx.(eventstore.SQLTx).SQL().QueryRowContext(ctx, `SELECT title, done FROM tasks WHERE id = 'task-1'`).Scan(&title, &done)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  tasks row: title=%q done=%v\n", title, done)
	return nil
}
