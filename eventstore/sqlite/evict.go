package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/ferrysync/ferry/eventstore"
)

// evictedHeadKey is the meta key of the head before an eviction removed
// the ledger's last events: positions up to it are never given again.
const evictedHeadKey = "evicted_head"

// Evict implements eventstore.Evicter. It deletes the streams' rows from
// events, stream_types, snapshots and relations, in a savepoint: all or
// nothing. A position is a rowid, and SQLite gives a new row the greatest
// rowid plus one; so when the eviction removes the ledger's last events,
// the head before it is kept in meta (evicted_head): Head reports it, and
// the next rows are stored after it (see aboveEvicted).
func (tx *Tx) Evict(ctx context.Context, streams ...string) (eventstore.Evicted, error) {
	var out eventstore.Evicted
	if tx.done {
		return out, errTxDone
	}
	names := slices.Compact(slices.Sorted(slices.Values(streams)))
	if len(names) == 0 {
		return out, nil
	}
	err := tx.savepoint(ctx, func() error {
		var held []string
		for _, name := range names {
			var pending bool
			err := tx.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM events
				WHERE stream = ? AND hub_position = 0 AND hydrated = 0 AND rejected = 0)`, name).Scan(&pending)
			if err != nil {
				return mapErr(err)
			}
			if pending {
				held = append(held, name)
			}
		}
		if len(held) > 0 {
			return &eventstore.UnpushedError{Streams: held}
		}
		head, err := tx.head(ctx)
		if err != nil {
			return err
		}
		revived, err := lastRevived(ctx, tx.tx)
		if err != nil {
			return err
		}
		for _, name := range names {
			var n, first int64
			err := tx.tx.QueryRowContext(ctx, `SELECT count(*), coalesce(min(position), 0) FROM events WHERE stream = ?`, name).Scan(&n, &first)
			if err != nil {
				return mapErr(err)
			}
			if n > 0 && (out.First == 0 || first < out.First) {
				out.First = first
			}
			out.Events += int(n)
			for _, q := range []string{
				`DELETE FROM events WHERE stream = ?`,
				`DELETE FROM stream_types WHERE stream = ?`,
				`DELETE FROM snapshots WHERE stream = ?`,
			} {
				tx.writes++
				if _, err := tx.tx.ExecContext(ctx, q, name); err != nil {
					return fmt.Errorf("stream %s: %w", name, mapErr(err))
				}
			}
		}
		// Relations are keyed (key, stream): deleting a stream's rows scans
		// the table, so it is done once for all the streams.
		list, err := json.Marshal(names)
		if err != nil {
			return err
		}
		tx.writes++
		if _, err := tx.tx.ExecContext(ctx, `DELETE FROM relations WHERE stream IN (SELECT value FROM json_each(?))`, string(list)); err != nil {
			return fmt.Errorf("relations: %w", mapErr(err))
		}
		if left, err := lastRevived(ctx, tx.tx); err != nil {
			return err
		} else if left < revived {
			// Revive numbers after the greatest revival number stored; a
			// projector may have handled the evicted one.
			tx.writes++
			if _, err := tx.tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value`, evictedRevivedKey, strconv.FormatInt(revived, 10)); err != nil {
				return mapErr(err)
			}
		}
		var last int64
		if err := tx.tx.QueryRowContext(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&last); err != nil {
			return mapErr(err)
		}
		if last < head {
			tx.writes++
			if _, err := tx.tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value`, evictedHeadKey, strconv.FormatInt(head, 10)); err != nil {
				return mapErr(err)
			}
			tx.s.evictedHead.Store(head) // a rollback leaves it set: harmless (aboveEvicted checks the file)
		}
		return nil
	})
	if err != nil {
		return eventstore.Evicted{}, fmt.Errorf("evict: %w", err)
	}
	return out, nil
}

// evictedRevivedKey is the meta key of the greatest revival number an
// eviction removed, when no event left holds one as great: Revive numbers
// after it.
const evictedRevivedKey = "evicted_revived"

// lastRevived returns the greatest revival number given: the greatest
// stored, or the one an eviction removed when greater.
func lastRevived(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (int64, error) {
	var last int64
	err := q.QueryRowContext(ctx, `SELECT max(coalesce((SELECT max(revived) FROM events WHERE revived > 0), 0),
		coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?), 0))`, evictedRevivedKey).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("last revival number: %w", mapErr(err))
	}
	return last, nil
}

// head returns the head as tx sees it: the greatest position, or the
// evicted head when it is greater.
func (tx *Tx) head(ctx context.Context) (int64, error) {
	var h int64
	if err := tx.tx.QueryRowContext(ctx, headSQL, evictedHeadKey).Scan(&h); err != nil {
		return 0, fmt.Errorf("head: %w", mapErr(err))
	}
	return h, nil
}

// headSQL reads the head: the greatest position, or the evicted head
// (meta, the key as its parameter) when greater.
const headSQL = `SELECT max(coalesce((SELECT max(position) FROM events), 0),
	coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?), 0))`

// aboveEvicted runs fn, which inserts events, so that their positions
// follow the evicted head when an eviction removed the ledger's last
// events: a placeholder row at the evicted head makes SQLite number the
// new rows after it, and is deleted once fn has stored them. Readers never
// see it (it is gone before the commit). Without an eviction in this
// process (or found at Open) it costs nothing.
func (tx *Tx) aboveEvicted(ctx context.Context, fn func() error) error {
	floor := tx.s.evictedHead.Load()
	if floor == 0 {
		return fn()
	}
	var last int64
	if err := tx.tx.QueryRowContext(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&last); err != nil {
		return mapErr(err)
	}
	if last >= floor {
		return fn()
	}
	tx.writes++
	if _, err := tx.tx.ExecContext(ctx, `INSERT INTO events (position, id, stream, type, schema, data, meta, created, origin, hydrated, outdated)
		VALUES (?, '', '', '', 0, x'', x'', 0, '', 1, 0)`, floor); err != nil {
		return fmt.Errorf("placeholder at the evicted head: %w", mapErr(err))
	}
	ferr := fn()
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM events WHERE position = ? AND id = ''`, floor); err != nil {
		return errors.Join(ferr, fmt.Errorf("placeholder at the evicted head: %w", mapErr(err)))
	}
	return ferr
}

// loadEvictedHead reads the evicted head on Open: 0 (nothing to do on
// insert) unless it is above the greatest position.
func loadEvictedHead(ctx context.Context, tx *sql.Tx) (int64, error) {
	var v string
	err := tx.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", evictedHeadKey).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load evicted head: %w", mapErr(err))
	}
	head, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("load evicted head: corrupt value %q", v)
	}
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&last); err != nil {
		return 0, fmt.Errorf("load evicted head: %w", mapErr(err))
	}
	if last >= head {
		return 0, nil
	}
	return head, nil
}
