package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"iter"

	"github.com/ferrysync/ferry/eventstore"
)

var _ eventstore.Reviver = (*Store)(nil)

// Revive implements eventstore.Reviver. Open calls it when the store has a
// Registry, so an app upgraded to a version that knows the types its older
// version kept Unknown finds them accepted as soon as it opens the store.
// The Unknown events are found through a partial index: a store without
// any costs one index probe.
func (s *Store) Revive(ctx context.Context) (n int, err error) {
	err = s.Update(ctx, func(etx eventstore.Tx) error {
		tx := etx.(*Tx).tx
		unknown, err := scanAll(tx.QueryContext(ctx, `SELECT `+eventCols+` FROM events WHERE unknown = 1 ORDER BY position`))
		if err != nil {
			return err
		}
		var last int64
		if len(unknown) > 0 {
			if last, err = lastRevived(ctx, tx); err != nil {
				return err
			}
		}
		n, err = s.core.Revive(unknown, last, func(e eventstore.Event, num int64) error {
			if _, err := tx.ExecContext(ctx, `UPDATE events SET unknown = 0, revived = ? WHERE position = ?`, num, e.Position); err != nil {
				return mapErr(err)
			}
			if s.core.Commutative(e.Type) {
				if _, err := tx.ExecContext(ctx, `UPDATE events SET outdated = 0 WHERE stream = ? AND type = ? AND outdated = 1`, e.Stream, e.Type); err != nil {
					return mapErr(err)
				}
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM snapshots WHERE stream = ?`, e.Stream)
			return mapErr(err)
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revive: %w", err)
	}
	var last int64
	if err := s.read.QueryRowContext(ctx, `SELECT coalesce(max(revived), 0) FROM events WHERE revived > 0`).Scan(&last); err != nil {
		return n, fmt.Errorf("revive: %w", mapErr(err))
	}
	s.core.NoteRevived(last)
	return n, nil
}

// Revived implements eventstore.Reviver.
func (s *Store) Revived() int64 { return s.core.Revived() }

// scanAll reads every row of eventCols that rows holds.
func scanAll(rows *sql.Rows, err error) ([]eventstore.Event, error) {
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []eventstore.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, e)
	}
	return out, mapErr(rows.Err())
}

// ReadRevived implements eventstore.Reviver.
func (s *Store) ReadRevived(ctx context.Context, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	if limit <= 0 {
		limit = -1
	}
	return s.events(ctx, "read revived", func() (*sql.Rows, error) {
		return s.read.QueryContext(ctx, `SELECT `+eventCols+` FROM events WHERE revived > ? ORDER BY revived LIMIT ?`, after, limit)
	})
}
