package ferry

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
)

// Query runs query with args over the read models, as Read does (read-only;
// every event committed before the call taken in first), and returns one T
// per row, in the query's order: scan makes it from the current row, with
// rows.Scan (it must not call Next or Close).
//
//	rows, err := ferry.Query(ctx, app, func(r *sql.Rows) (s Stock, err error) {
//		err = r.Scan(&s.Item, &s.Qty)
//		return s, err
//	}, `SELECT item, qty FROM stock WHERE qty < ?`, 5)
func Query[T any](ctx context.Context, app *App, scan func(rows *sql.Rows) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := app.Read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("ferry: query: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return fmt.Errorf("ferry: query: %w", err)
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Column is the scan function of Query for rows of one column:
//
//	ids, err := ferry.Query(ctx, app, ferry.Column[string], `SELECT id FROM stock`)
func Column[T any](rows *sql.Rows) (T, error) {
	var v T
	err := rows.Scan(&v)
	return v, err
}

// Follow runs the app as Run does and, until ctx ends, calls fn with each
// event the store takes in after the call, appended on this device or
// pulled from the hub, in ledger order and one at a time: what a command
// that watches for changes prints. It returns nil when ctx ends, fn's
// error when fn fails, or the error that stopped Run.
func (a *App) Follow(ctx context.Context, fn func(e eventstore.Event) error) error {
	pos, err := a.store.Head(ctx)
	if err != nil {
		return fmt.Errorf("ferry: follow: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := a.Run(ctx)
		cancel() // a stopped Run stops the loop
		done <- err
	}()
	err = a.follow(ctx, pos, fn)
	cancel()
	if rerr := <-done; rerr != nil {
		return rerr
	}
	return err
}

// follow calls fn with each event after pos until ctx ends.
func (a *App) follow(ctx context.Context, pos int64, fn func(e eventstore.Event) error) error {
	stop := func(err error) error {
		if ctx.Err() != nil {
			return nil // ctx ended: not a failure
		}
		return fmt.Errorf("ferry: follow: %w", err)
	}
	for {
		if _, err := a.store.Wait(ctx, pos); err != nil {
			return stop(err)
		}
		for e, err := range a.store.ReadAll(ctx, pos, 0) {
			if err != nil {
				return stop(err)
			}
			pos = e.Position
			if err := fn(e); err != nil {
				return err
			}
		}
	}
}
