package postgres

import (
	"context"
	"iter"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ferrysync/ferry/eventstore"
)

// pageSize is how many rows one query of an iterator fetches. Iterators page
// with keyset conditions, so a consumer that stops early leaves at most one
// page unread (pgx drains the rest of a result set on close).
const pageSize = 1000

const eventColumns = `position, id, stream, type, schema, data, meta, created, origin, hub_position, hydrated, outdated, rejected`

func scanEvent(rows pgx.Rows) (eventstore.Event, error) {
	var (
		e          eventstore.Event
		schema     int32
		created    int64
		data, meta []byte
	)
	err := rows.Scan(&e.Position, &e.ID, &e.Stream, &e.Type, &schema, &data, &meta, &created,
		&e.Origin, &e.HubPosition, &e.Hydrated, &e.Outdated, &e.Rejected)
	e.Schema, e.Data, e.Meta, e.Created = int(schema), data, meta, eventstore.Timestamp(created)
	return e, err
}

// page runs one query and yields its events. It reports how many rows it
// yielded, the last event, and whether the consumer wants more.
func (s *Store) page(ctx context.Context, op, sql string, args []any, yield func(eventstore.Event, error) bool) (n int, last eventstore.Event, more bool) {
	rows, err := s.db.pool.Query(ctx, sql, args...)
	if err != nil {
		yield(eventstore.Event{}, wrapErr(op, err))
		return 0, last, false
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			yield(eventstore.Event{}, wrapErr(op, err))
			return n, last, false
		}
		n, last = n+1, e
		if !yield(e, nil) {
			return n, last, false
		}
	}
	if err := rows.Err(); err != nil {
		yield(eventstore.Event{}, wrapErr(op, err))
		return n, last, false
	}
	return n, last, true
}

// ReadStreamAfter yields the events of stream at positions after after, in
// Position order, at most limit (<= 0: all): a hub reads a subscription's
// streams this way, with index seeks when the DB was opened with
// Options.StreamPositionIndex.
func (s *Store) ReadStreamAfter(ctx context.Context, stream string, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	return s.ledger(ctx, "read stream "+stream, `SELECT `+eventColumns+` FROM {s}.events
WHERE tenant = $1 AND stream = $2 AND position > $3 ORDER BY position LIMIT $4`, []any{stream}, after, limit)
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	return s.ledger(ctx, "read all", `SELECT `+eventColumns+` FROM {s}.events
WHERE tenant = $1 AND position > $2 ORDER BY position LIMIT $3`, nil, after, limit)
}

// ledger pages through a Position-ordered query with parameters (tenant,
// args..., after, limit).
func (s *Store) ledger(ctx context.Context, op, query string, args []any, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		if err := s.check(); err != nil {
			yield(eventstore.Event{}, err)
			return
		}
		sql := s.db.q(query)
		for {
			n := pageSize
			if limit > 0 {
				n = min(n, limit)
			}
			params := append(append([]any{s.tenant}, args...), after, n)
			got, last, more := s.page(ctx, op, sql, params, yield)
			if !more || got < n {
				return
			}
			after = last.Position
			if limit > 0 {
				if limit -= got; limit == 0 {
					return
				}
			}
		}
	}
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadOptions) iter.Seq2[eventstore.Event, error] {
	return s.streams(ctx, "read stream "+stream, []string{stream}, opts)
}

// ReadStreams implements eventstore.Store.
func (s *Store) ReadStreams(ctx context.Context, streams []string, opts eventstore.ReadOptions) iter.Seq2[eventstore.Event, error] {
	return s.streams(ctx, "read streams", streams, opts)
}

func (s *Store) streams(ctx context.Context, op string, streams []string, opts eventstore.ReadOptions) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		if err := s.check(); err != nil {
			yield(eventstore.Event{}, err)
			return
		}
		if len(streams) == 0 {
			return
		}
		limit := opts.Limit
		for {
			n := pageSize
			if limit > 0 {
				n = min(n, limit)
			}
			sql, args := s.streamQuery(streams, opts, n)
			got, last, more := s.page(ctx, op, sql, args, yield)
			if !more || got < n {
				return
			}
			// The next page starts past the last event yielded.
			if opts.Reverse {
				opts.Before = eventstore.CursorOf(last)
			} else {
				opts.After = eventstore.CursorOf(last)
			}
			if limit > 0 {
				if limit -= got; limit == 0 {
					return
				}
			}
		}
	}
}

// streamQuery builds the query of one page of ReadStream(s). Only
// placeholders go into the SQL text; values travel as parameters.
func (s *Store) streamQuery(streams []string, opts eventstore.ReadOptions, limit int) (string, []any) {
	var b strings.Builder
	args := []any{s.tenant}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	b.WriteString(`SELECT ` + eventColumns + ` FROM {s}.events WHERE tenant = $1`)
	if len(streams) == 1 {
		b.WriteString(" AND stream = " + arg(streams[0]))
	} else {
		b.WriteString(" AND stream = ANY(" + arg(streams) + ")")
	}
	b.WriteString(" AND NOT rejected")
	if len(opts.Types) > 0 {
		b.WriteString(" AND type = ANY(" + arg(opts.Types) + ")")
	}
	if !opts.After.IsZero() {
		b.WriteString(" AND (created, id) > (" + arg(pgTime(opts.After.Created)) + ", " + arg(opts.After.ID) + "::text)")
	}
	if !opts.Before.IsZero() {
		b.WriteString(" AND (created, id) < (" + arg(pgTime(opts.Before.Created)) + ", " + arg(opts.Before.ID) + "::text)")
	}
	if opts.Until != 0 {
		b.WriteString(" AND created <= " + arg(pgTime(opts.Until)))
	}
	if opts.Reverse {
		b.WriteString(" ORDER BY created DESC, id DESC")
	} else {
		b.WriteString(" ORDER BY created, id")
	}
	b.WriteString(" LIMIT " + arg(limit))
	return s.db.q(b.String()), args
}
