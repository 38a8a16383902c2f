package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
)

// The tasks read model lives in the same SQLite file as the events. The
// projector "tasks" writes it through the store's transaction
// (eventstore.SQLTx), so rows and checkpoint commit together.
//
// Convergence: On handlers never see Outdated events (an older event of the
// same stream and type arriving after a newer one), so a late rename cannot
// clobber a newer title. Fields set by two event types (done, by completed
// and reopened) also keep the cursor (HLC, then event id) of the event that
// set them, and an update only wins when its cursor is greater: every
// device ends up with the value of the latest event in HLC order, which is
// what the aggregate's fold gives, whatever order the events arrived in.
// Events the hub rejected are left out of folds, so handlers skip them too
// (sync rebuilds the read model when the hub rejects an event it already
// showed).
const readModelSchema = `
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
);`

// projectorName keys the read model's checkpoint.
const projectorName = "tasks"

// counterEvents is the task_counters row the All handler increments.
const counterEvents = "events"

// sqlOf returns the SQL transaction of a store transaction.
func sqlOf(tx eventstore.Tx) (*sql.Tx, error) {
	stx, ok := tx.(eventstore.SQLTx)
	if !ok {
		return nil, errors.New("the tasks read model needs a SQL store")
	}
	return stx.SQL(), nil
}

// cursorKey encodes an event's (Created, ID) so that string order is
// cursor order (both parts are fixed width).
func cursorKey(e eventstore.Event) string { return e.Created.String() + e.ID }

// readModelHandlers registers the read model's On handlers and the All
// handler that counts every event.
func readModelHandlers(h *projector.Handlers) {
	setTitle := func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d TitleData) error {
		created := ""
		if e.Type == evCreated {
			created = cursorKey(e)
		}
		return upsert(ctx, tx, e, `title = CASE WHEN excluded.title_at > title_at THEN excluded.title ELSE title END,
			title_at = max(title_at, excluded.title_at),
			created = max(created, excluded.created)`,
			"title, title_at, created", d.Title, cursorKey(e), created)
	}
	setDone := func(done bool) func(context.Context, eventstore.Tx, eventstore.Event, struct{}) error {
		return func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, _ struct{}) error {
			return upsert(ctx, tx, e, `done = CASE WHEN excluded.done_at > done_at THEN excluded.done ELSE done END,
				done_at = max(done_at, excluded.done_at)`,
				"done, done_at", done, cursorKey(e))
		}
	}
	projector.On(h, evCreated, setTitle)
	projector.On(h, evRenamed, setTitle)
	projector.On(h, evCompleted, setDone(true))
	projector.On(h, evReopened, setDone(false))
	projector.On(h, evDeleted, func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, _ struct{}) error {
		return upsert(ctx, tx, e, "deleted = 1", "deleted", true)
	})
	for _, typ := range eventTypes {
		projector.All(h, typ, func(ctx context.Context, tx eventstore.Tx, _ eventstore.Event, _ struct{}) error {
			q, err := sqlOf(tx)
			if err != nil {
				return err
			}
			_, err = q.ExecContext(ctx, `INSERT INTO task_counters (name, value) VALUES (?, 1)
				ON CONFLICT (name) DO UPDATE SET value = value + 1`, counterEvents)
			return err
		})
	}
}

// upsert makes sure e's task has a row, then applies set to it. cols and
// args are the columns the event provides; changed (the task's latest HLC)
// is maintained for every event.
func upsert(ctx context.Context, tx eventstore.Tx, e eventstore.Event, set, cols string, args ...any) error {
	q, err := sqlOf(tx)
	if err != nil {
		return err
	}
	id, ok := strings.CutPrefix(e.Stream, streamPrefix)
	if !ok || e.Rejected {
		return nil // not a task, or refused by the hub: not part of any fold
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")
	stmt := fmt.Sprintf(`INSERT INTO tasks (id, changed, %s) VALUES (?, ?, %s)
		ON CONFLICT (id) DO UPDATE SET changed = max(changed, excluded.changed), %s`, cols, marks, set)
	_, err = q.ExecContext(ctx, stmt, append([]any{id, e.Created.String()}, args...)...)
	return err
}

// resetReadModel drops and recreates the read model's tables, for Rebuild.
func resetReadModel(ctx context.Context, tx eventstore.Tx) error {
	q, err := sqlOf(tx)
	if err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, `DROP TABLE IF EXISTS tasks; DROP TABLE IF EXISTS task_counters;`); err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, readModelSchema)
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
func listTasks(ctx context.Context, store eventstore.Store, all bool) ([]taskRow, error) {
	var rows []taskRow
	err := store.Update(ctx, func(tx eventstore.Tx) error {
		q, err := sqlOf(tx)
		if err != nil {
			return err
		}
		res, err := q.QueryContext(ctx, `SELECT id, title, done, deleted, created, changed FROM tasks
			WHERE ? OR deleted = 0 ORDER BY created, id`, all)
		if err != nil {
			return err
		}
		defer res.Close()
		for res.Next() {
			var r taskRow
			var created string
			if err := res.Scan(&r.ID, &r.Title, &r.Done, &r.Deleted, &created, &r.ChangedHLC); err != nil {
				return err
			}
			r.Created = hlcTime(created[:min(16, len(created))])
			r.Changed = hlcTime(r.ChangedHLC)
			rows = append(rows, r)
		}
		return res.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read tasks: %w", err)
	}
	return rows, nil
}

// hlcTime returns the physical time of an encoded HLC timestamp (zero if
// it does not parse).
func hlcTime(s string) time.Time {
	ts, err := eventstore.ParseTimestamp(s)
	if err != nil {
		return time.Time{}
	}
	return ts.Time().UTC()
}

// resolveID returns the id of the one task (deleted ones included) whose id
// starts with prefix ("task/" prefix and case ignored), or an error
// wrapping errUnknownTask.
func resolveID(ctx context.Context, store eventstore.Store, prefix string) (string, error) {
	p := strings.ToLower(strings.TrimPrefix(prefix, streamPrefix))
	if p == "" || strings.IndexFunc(p, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'z') }) >= 0 {
		return "", fmt.Errorf("%w %q", errUnknownTask, prefix)
	}
	var ids []string
	err := store.Update(ctx, func(tx eventstore.Tx) error {
		q, err := sqlOf(tx)
		if err != nil {
			return err
		}
		res, err := q.QueryContext(ctx, `SELECT id FROM tasks WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 2`, len(p), p)
		if err != nil {
			return err
		}
		defer res.Close()
		for res.Next() {
			var id string
			if err := res.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return res.Err()
	})
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

// eventsSeen returns the All handler's count of events.
func eventsSeen(ctx context.Context, store eventstore.Store) (int64, error) {
	var n int64
	err := store.Update(ctx, func(tx eventstore.Tx) error {
		q, err := sqlOf(tx)
		if err != nil {
			return err
		}
		err = q.QueryRowContext(ctx, `SELECT value FROM task_counters WHERE name = ?`, counterEvents).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	return n, err
}
