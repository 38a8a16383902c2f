package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/eventstore"
)

// tasksProjection is the tasks read model, kept in the same SQLite file as
// the events: its handlers write through the projection's transaction, so
// rows and checkpoint commit together.
//
// Convergence: On handlers never see Outdated events (an older event of the
// same stream and type arriving after a newer one), so a late rename cannot
// clobber a newer title. Fields set by two event types (done, by completed
// and reopened) also keep the cursor (HLC, then event id) of the event that
// set them, and an update only wins when its cursor is greater: every
// device ends up with the value of the latest event in HLC order, which is
// what the aggregate's fold gives, whatever order the events arrived in.
// Events the hub rejected reach no handler; when a rejection arrives, the
// projection is reset and replayed without the event.
var tasksProjection = ferry.Projection{
	Name: "tasks",
	Schema: `
CREATE TABLE IF NOT EXISTS tasks (
	id       TEXT PRIMARY KEY,
	title    TEXT NOT NULL DEFAULT '',
	title_at TEXT NOT NULL DEFAULT '',
	done     INTEGER NOT NULL DEFAULT 0,
	done_at  TEXT NOT NULL DEFAULT '',
	deleted  INTEGER NOT NULL DEFAULT 0,
	created  TEXT NOT NULL DEFAULT '',
	changed  TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS task_counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);`,
	Reset: `DELETE FROM tasks; DELETE FROM task_counters;`,
	Handlers: []ferry.Handler{
		ferry.On(taskCreated, setTitle), ferry.On(taskRenamed, setTitle),
		ferry.On(taskCompleted, setDone[TitleData](true)), ferry.On(taskReopened, setDone[struct{}](false)),
		ferry.On(taskDeleted, func(ctx context.Context, tx *sql.Tx, e ferry.Stored[struct{}]) error {
			return upsert(ctx, tx, e.Event, "deleted = 1", "deleted", true)
		}),
		// The All handlers count every event, Outdated ones included.
		ferry.All(taskCreated, countEvent[TitleData]), ferry.All(taskRenamed, countEvent[TitleData]),
		ferry.All(taskCompleted, countEvent[TitleData]), ferry.All(taskReopened, countEvent[struct{}]),
		ferry.All(taskDeleted, countEvent[struct{}]),
	},
}

// counterEvents is the task_counters row the All handlers increment.
const counterEvents = "events"

// cursorKey encodes an event's (Created, ID) so that string order is
// cursor order (both parts are fixed width).
func cursorKey(e eventstore.Event) string { return e.Created.String() + e.ID }

func setTitle(ctx context.Context, tx *sql.Tx, e ferry.Stored[TitleData]) error {
	created := ""
	if e.Type == taskCreated.Name() {
		created = cursorKey(e.Event)
	}
	return upsert(ctx, tx, e.Event, `title = CASE WHEN excluded.title_at > title_at THEN excluded.title ELSE title END,
		title_at = max(title_at, excluded.title_at),
		created = max(created, excluded.created)`,
		"title, title_at, created", e.Data.Title, cursorKey(e.Event), created)
}

func setDone[T any](done bool) func(context.Context, *sql.Tx, ferry.Stored[T]) error {
	return func(ctx context.Context, tx *sql.Tx, e ferry.Stored[T]) error {
		return upsert(ctx, tx, e.Event, `done = CASE WHEN excluded.done_at > done_at THEN excluded.done ELSE done END,
			done_at = max(done_at, excluded.done_at)`, "done, done_at", done, cursorKey(e.Event))
	}
}

func countEvent[T any](ctx context.Context, tx *sql.Tx, _ ferry.Stored[T]) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO task_counters (name, value) VALUES (?, 1)
		ON CONFLICT (name) DO UPDATE SET value = value + 1`, counterEvents)
	return err
}

// upsert makes sure e's task has a row, then applies set to it. cols and
// args are the columns the event provides; changed (the task's latest HLC)
// is maintained for every event.
func upsert(ctx context.Context, tx *sql.Tx, e eventstore.Event, set, cols string, args ...any) error {
	id, ok := strings.CutPrefix(e.Stream, streamPrefix)
	if !ok {
		return nil // not a task
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")
	stmt := fmt.Sprintf(`INSERT INTO tasks (id, changed, %s) VALUES (?, ?, %s)
		ON CONFLICT (id) DO UPDATE SET changed = max(changed, excluded.changed), %s`, cols, marks, set)
	_, err := tx.ExecContext(ctx, stmt, append([]any{id, e.Created.String()}, args...)...)
	return err
}

// taskRow is one task as the read model holds it, and as `list --json`
// prints it. Every field is the same on every device holding the same
// events.
type taskRow struct {
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	Done    bool      `json:"done"`
	Deleted bool      `json:"deleted"`
	Created time.Time `json:"created"`
	Changed time.Time `json:"changed"`
	// ChangedHLC is the HLC timestamp of the task's latest event.
	ChangedHLC string `json:"changed_hlc"`
}

// listTasks returns the tasks in creation order (HLC, then id), deleted
// ones only when all is set.
func listTasks(ctx context.Context, a *app, all bool) ([]taskRow, error) {
	return ferry.Query(ctx, a.App, func(rows *sql.Rows) (r taskRow, err error) {
		var created string
		err = rows.Scan(&r.ID, &r.Title, &r.Done, &r.Deleted, &created, &r.ChangedHLC)
		r.Created, r.Changed = hlcTime(created[:min(16, len(created))]), hlcTime(r.ChangedHLC)
		return r, err
	}, `SELECT id, title, done, deleted, created, changed FROM tasks WHERE ? OR deleted = 0 ORDER BY created, id`, all)
}

// hlcTime returns the physical time of an encoded HLC timestamp (zero if
// it does not parse).
func hlcTime(s string) time.Time {
	if ts, err := eventstore.ParseTimestamp(s); err == nil {
		return ts.Time().UTC()
	}
	return time.Time{}
}

// resolveID returns the id of the one task (deleted ones included) whose id,
// or id in its list (after "NAME/"), starts with prefix ("task/" prefix and
// case ignored), or an error wrapping errUnknownTask.
func resolveID(ctx context.Context, a *app, prefix string) (string, error) {
	p := strings.ToLower(strings.TrimPrefix(prefix, streamPrefix))
	ids, err := ferry.Query(ctx, a.App, ferry.Column[string], `SELECT id FROM tasks WHERE ? <> '' AND
		(substr(lower(id), 1, length(?)) = ? OR substr(id, instr(id, '/') + 1, length(?)) = ?) LIMIT 2`, p, p, p, p, p)
	switch {
	case err != nil:
		return "", fmt.Errorf("find task: %w", err)
	case len(ids) == 0:
		return "", fmt.Errorf("%w %q", errUnknownTask, prefix)
	case len(ids) > 1:
		return "", fmt.Errorf("%w: %q matches several tasks; give more of the id", errAmbiguous, prefix)
	}
	return ids[0], nil
}

// errAmbiguous reports an id prefix that matches several tasks.
var errAmbiguous = errors.New("ambiguous task id")

// eventsSeen returns the All handlers' count of events.
func eventsSeen(ctx context.Context, a *app) (int64, error) {
	seen, err := ferry.Query(ctx, a.App, ferry.Column[int64], `SELECT coalesce(max(value), 0) FROM task_counters WHERE name = ?`, counterEvents)
	return append(seen, 0)[0], err // an aggregate query: one row
}

// cmdRebuild empties the tasks read model and rebuilds it by replaying
// every event. Replays never run side effects, so the effects log is
// untouched.
func cmdRebuild(ctx context.Context, a *app, _ []string) error {
	if err := a.withBar("replaying", func() error { return a.Rebuild(ctx) }); err != nil {
		return err
	}
	pos, err := a.Store().Head(ctx)
	seen, err2 := eventsSeen(ctx, a)
	if err := errors.Join(err, err2); err != nil {
		return err
	}
	return a.print(map[string]int64{"position": pos, "events_seen": seen}, "rebuilt the tasks read model from %d events\n", seen)
}
