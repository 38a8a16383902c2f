// Command quickstart is a tour of Ferry's local side in one file, on
// package ferry: typed event definitions, a task aggregate with commands,
// a SQL read model in the same database file, a side effect that fires
// exactly once for local events, and edits that arrive late "from another
// device".
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
)

// Title is the payload of task:created and task:renamed.
type Title struct {
	Title string `json:"title"`
}

// Validate runs before a command loads anything, and on every append.
func (t Title) Validate() error {
	if strings.TrimSpace(t.Title) == "" {
		return aggregate.Invalid("title", "must not be empty")
	}
	return nil
}

// The event types, defined once: the registry, the folds, the handlers and
// Raise all take these values.
var (
	TaskCreated   = ferry.Event[Title]("task:created")
	TaskRenamed   = ferry.Event[Title]("task:renamed")
	TaskCompleted = ferry.Event[struct{}]("task:completed")
)

// Task is the aggregate.
type Task struct {
	ferry.Root
	Title string `json:"title"`
	Done  bool   `json:"done"`
}

// tasks folds a task's stream, in HLC order.
var tasks = ferry.NewAggregate("task", func() *Task { return &Task{} })

func init() {
	ferry.Fold(tasks, TaskCreated, func(t *Task, e ferry.Stored[Title]) { t.Title = e.Data.Title })
	ferry.Fold(tasks, TaskRenamed, func(t *Task, e ferry.Stored[Title]) { t.Title = e.Data.Title })
	ferry.Fold(tasks, TaskCompleted, func(t *Task, _ ferry.Stored[struct{}]) { t.Done = true })
}

func create(t *Task, in Title) error {
	if t.Exists() {
		return aggregate.Reject("task %s exists", t.ID())
	}
	return TaskCreated.Raise(t, in)
}

func rename(t *Task, in Title) error {
	if !t.Exists() {
		return aggregate.ErrAggregateNotFound
	}
	return TaskRenamed.Raise(t, in)
}

// readModel is the tasks table: On handlers skip Outdated events, so a
// late rename never overwrites a newer one.
var readModel = ferry.Projection{
	Name:   "tasks",
	Schema: `CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, title TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0)`,
	Reset:  `DELETE FROM tasks`,
	Handlers: []ferry.Handler{
		ferry.On(TaskCreated, upsert),
		ferry.On(TaskRenamed, upsert),
		ferry.On(TaskCompleted, func(ctx context.Context, tx *sql.Tx, e ferry.Stored[struct{}]) error {
			_, err := tx.ExecContext(ctx, `UPDATE tasks SET done = 1 WHERE id = ?`, e.Stream)
			return err
		}),
	},
}

func upsert(ctx context.Context, tx *sql.Tx, e ferry.Stored[Title]) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO tasks(id, title) VALUES (?, ?)
		ON CONFLICT(id) DO UPDATE SET title = excluded.title`, e.Stream, e.Data.Title)
	return err
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

	announce := ferry.Once(TaskCreated, "announce", func(ctx context.Context, e ferry.Stored[Title]) error {
		fmt.Fprintf(w, "  side effect: announce %q (runs once, on this device only)\n", e.Data.Title)
		return nil
	})
	app, err := ferry.Open(ctx, filepath.Join(dir, "laptop.db"), ferry.Options{
		Device:      "laptop",
		Events:      []ferry.EventType{TaskCompleted}, // the others are named by handlers
		Projections: []ferry.Projection{readModel},
		Effects:     []ferry.Handler{announce},
	})
	if err != nil {
		return err
	}
	defer app.Close()

	fmt.Fprintln(w, "1. commands on the laptop (offline)")
	if _, err := ferry.Execute(ctx, app, tasks, "task-1", create, Title{"buy milk"}); err != nil {
		return err
	}
	offlineEdit := eventstore.TimestampOf(time.Now()) // the phone's edit happens about now...
	time.Sleep(5 * time.Millisecond)
	if _, err := ferry.Execute(ctx, app, tasks, "task-1", rename, Title{"buy oat milk"}); err != nil {
		return err
	}
	_, err = ferry.Execute(ctx, app, tasks, "task-1", rename, Title{"  "})
	fmt.Fprintln(w, "  invalid rename refused:", errors.Is(err, aggregate.ErrInvalidCommand))
	if err := app.CatchUp(ctx); err != nil { // read model and side effects, before going on
		return err
	}

	fmt.Fprintln(w, "2. the phone's offline edits arrive through sync")
	// ...but reaches the laptop only now: it sorts before the laptop's
	// rename. (Sync does this insert; App.Store reaches the lower layer.)
	results, err := app.Store().Insert(ctx,
		eventstore.Event{ID: eventstore.NewID(), Stream: "task-1", Type: TaskRenamed.Name(),
			Data: []byte(`{"title":"buy soy milk"}`), Created: offlineEdit, Origin: "phone"},
		eventstore.Event{ID: eventstore.NewID(), Stream: "task-1", Type: TaskCompleted.Name(),
			Created: offlineEdit + 1, Origin: "phone"},
	)
	if err != nil {
		return err
	}
	for _, r := range results {
		fmt.Fprintf(w, "  inserted=%v outdated=%v\n", r.Inserted, r.Event.Outdated)
	}
	if err := app.CatchUp(ctx); err != nil {
		return err
	}

	fmt.Fprintln(w, "3. the stream, folded in HLC order on every replica")
	for e, err := range app.Store().ReadStream(ctx, "task-1", eventstore.ReadOptions{}) {
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %-15s origin=%-6s hydrated=%-5v outdated=%v\n", e.Type, e.Origin, e.Hydrated, e.Outdated)
	}
	task, err := ferry.Load(ctx, app, tasks, "task-1")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  aggregate: title=%q done=%v version=%d\n", task.Title, task.Done, task.Version())

	fmt.Fprintln(w, "4. the read model (outdated rename did not clobber the newer title)")
	var title string
	var done bool
	err = app.Read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT title, done FROM tasks WHERE id = 'task-1'`).Scan(&title, &done)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  tasks row: title=%q done=%v\n", title, done)
	return nil
}
