package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Reject implements eventstore.OutboxWriter. Each event is flagged in place (the
// outbox index drops it), its (stream, type) row in stream_types loses one
// from its count (so the stream's version drops) and, when the event was
// the type's latest, moves back to the greatest remaining event of the type
// or goes away with the last one; then the stream's snapshots at or after
// the event are deleted, and the Outdated flags the event caused on earlier
// events of its type are re-derived without it. The calls run in a
// savepoint: all or nothing.
func (tx *Tx) Reject(ctx context.Context, ids ...string) error {
	if tx.done {
		return errTxDone
	}
	if len(ids) == 0 {
		return nil
	}
	return tx.savepoint(ctx, func() error {
		for _, id := range ids {
			if err := tx.reject(ctx, id); err != nil {
				return fmt.Errorf("reject %s: %w", id, err)
			}
		}
		return nil
	})
}

func (tx *Tx) reject(ctx context.Context, id string) error {
	var (
		stream, typ       string
		created, position int64
	)
	err := tx.queryRow(ctx, wsReject, []any{id}, &stream, &typ, &created, &position)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // unknown, hydrated, acknowledged or already rejected
	}
	if err != nil {
		return err
	}
	var (
		count         int64
		latestCreated int64
		latestID      string
	)
	if err := tx.queryRow(ctx, wsUncount, []any{stream, typ}, &count, &latestCreated, &latestID); err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	switch {
	case count <= 0:
		if _, err := tx.exec(ctx, wsDropType, stream, typ); err != nil {
			return fmt.Errorf("stream %s: %w", stream, err)
		}
	case latestCreated == created && latestID == id:
		var c int64
		var cid string
		if err := tx.queryRow(ctx, wsLatestOfType, []any{stream, typ}, &c, &cid); err != nil {
			return fmt.Errorf("stream %s: latest of %s: %w", stream, typ, err)
		}
		if _, err := tx.exec(ctx, wsMoveType, c, cid, stream, typ); err != nil {
			return fmt.Errorf("stream %s: %w", stream, err)
		}
	}
	if _, err := tx.exec(ctx, wsInvalidate, stream, created, id); err != nil {
		return fmt.Errorf("invalidate snapshots of %s: %w", stream, err)
	}
	if _, err := tx.exec(ctx, wsReoutdate, stream, typ, position, created, id); err != nil {
		return fmt.Errorf("outdated flags of %s: %w", stream, err)
	}
	return nil
}
