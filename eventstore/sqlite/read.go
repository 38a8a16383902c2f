package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/ferrysync/ferry/eventstore"
)

// scanEvent reads one row of eventCols.
func scanEvent(rows *sql.Rows) (eventstore.Event, error) {
	var e eventstore.Event
	var created int64
	err := rows.Scan(&e.Position, &e.ID, &e.Stream, &e.Type, &e.Schema, (*[]byte)(&e.Data), (*[]byte)(&e.Meta),
		&created, &e.Origin, &e.HubPosition, &e.Hydrated, &e.Outdated, &e.Rejected, &e.Unknown, &e.Revived)
	e.Created = eventstore.Timestamp(created)
	if e.Data == nil {
		e.Data = []byte{}
	}
	if e.Meta == nil {
		e.Meta = []byte{}
	}
	return e, err
}

// events streams the rows of query as events: one row in memory at a time,
// rows closed when the consumer stops early.
func (s *Store) events(ctx context.Context, op string, query func() (*sql.Rows, error)) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		if s.closed.Load() {
			yield(eventstore.Event{}, fmt.Errorf("%s: %w", op, eventstore.ErrClosed))
			return
		}
		rows, err := query()
		if err != nil {
			yield(eventstore.Event{}, fmt.Errorf("%s: %w", op, mapErr(err)))
			return
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				yield(eventstore.Event{}, fmt.Errorf("%s: %w", op, mapErr(err)))
				return
			}
			if !yield(e, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(eventstore.Event{}, fmt.Errorf("%s: %w", op, mapErr(err)))
		}
	}
}

// sqlLimit turns "<= 0: no limit" into SQLite's LIMIT -1.
func sqlLimit(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	return s.events(ctx, "read all", func() (*sql.Rows, error) {
		return s.rs[rsReadAll].QueryContext(ctx, after, sqlLimit(limit))
	})
}

// ReadStreamAfter yields the events of stream at positions after after, in
// Position order, at most limit (<= 0: all). A hub reads a subscription's
// streams this way (Options.StreamPositionIndex makes it an index seek).
func (s *Store) ReadStreamAfter(ctx context.Context, stream string, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	return s.events(ctx, "read stream "+stream, func() (*sql.Rows, error) {
		return s.read.QueryContext(ctx, `SELECT `+eventCols+` FROM events WHERE stream = ? AND position > ? ORDER BY position LIMIT ?`,
			stream, after, sqlLimit(limit))
	})
}

// ReadPending implements eventstore.Outbox.
func (s *Store) ReadPending(ctx context.Context, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	return s.events(ctx, "read pending", func() (*sql.Rows, error) {
		return s.rs[rsPending].QueryContext(ctx, after, sqlLimit(limit))
	})
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadOptions) iter.Seq2[eventstore.Event, error] {
	return s.readStreams(ctx, "read stream "+stream, []string{stream}, opts)
}

// ReadStreams implements eventstore.Store.
func (s *Store) ReadStreams(ctx context.Context, streams []string, opts eventstore.ReadOptions) iter.Seq2[eventstore.Event, error] {
	streams = slices.Compact(slices.Sorted(slices.Values(streams)))
	return s.readStreams(ctx, "read streams", streams, opts)
}

// tieBuffer and tieBufferBytes bound the run of events sharing one Created
// value that a stream read holds to put them in ID order itself. A read
// that meets a longer run leaves the rest of the read, from that value on,
// to SQLite's sorter, which spills to disk instead of memory. Variables for
// tests.
var (
	tieBuffer      = 1024
	tieBufferBytes = 8 << 20
)

// testHookSpill, when set, is called when a read leaves the rest to
// SQLite's sorter.
var testHookSpill func()

// readStreams reads streams in (Created, ID) order.
//
// One stream comes from the stream index in Created order, ties in arrival
// order. Ties are uncommon (events from different nodes, or imported with
// the same Created), so rather than feed every row through SQLite's sorter,
// readStreams collects each run of equal Created values and puts it in ID
// order itself, applying the limit as it yields. Several streams are
// merged by SQLite's sorter in any case, so their query orders by ID too
// and carries the limit, which lets the sorter keep only that many rows.
//
// The read holds one connection: should a run of ties overflow the buffer,
// the second query starts while the first is still open, so both read the
// same snapshot of the file.
func (s *Store) readStreams(ctx context.Context, op string, streams []string, opts eventstore.ReadOptions) iter.Seq2[eventstore.Event, error] {
	if len(streams) == 0 {
		return func(func(eventstore.Event, error) bool) {}
	}
	query, args, sorted, err := firstStreamQuery(streams, opts)
	if err != nil {
		return errSeq(fmt.Errorf("%s: %w", op, err))
	}
	if sorted {
		return s.events(ctx, op, func() (*sql.Rows, error) {
			return s.read.QueryContext(ctx, query, args...)
		})
	}
	return func(yield func(eventstore.Event, error) bool) {
		conn, err := s.read.Conn(ctx)
		if err != nil {
			yield(eventstore.Event{}, fmt.Errorf("%s: %w", op, mapErr(err)))
			return
		}
		defer conn.Close()
		on := func(query string, args []any) func() (*sql.Rows, error) {
			return func() (*sql.Rows, error) { return conn.QueryContext(ctx, query, args...) }
		}
		sent, size := 0, 0
		var run []eventstore.Event // one Created value, arrival order
		// flush yields run in ID order; false: stop reading.
		flush := func() bool {
			slices.SortFunc(run, func(a, b eventstore.Event) int {
				if opts.Reverse {
					return strings.Compare(b.ID, a.ID)
				}
				return strings.Compare(a.ID, b.ID)
			})
			for i := range run {
				if opts.Limit > 0 && sent == opts.Limit || !yield(run[i], nil) {
					return false
				}
				run[i] = eventstore.Event{} // let the payload go
				sent++
			}
			run, size = run[:0], 0
			return opts.Limit <= 0 || sent < opts.Limit
		}
		for e, err := range s.events(ctx, op, on(query, args)) {
			if err != nil {
				yield(e, err) // the read ends: the unfinished run is not yielded
				return
			}
			if len(run) > 0 && e.Created != run[0].Created && !flush() {
				return
			}
			if len(run) < tieBuffer && size <= tieBufferBytes {
				run = append(run, e)
				size += len(e.Data) + len(e.Meta)
				continue
			}
			// The run overflows: from its Created value on, SQLite sorts,
			// in a query opened while this one still holds its snapshot.
			if testHookSpill != nil {
				testHookSpill()
			}
			rest, since := opts, eventstore.Timestamp(0)
			if opts.Limit > 0 {
				rest.Limit = opts.Limit - sent
			}
			if opts.Reverse {
				rest.Until = run[0].Created // rows so far had created <= Until
			} else {
				since = run[0].Created
			}
			query, args, err := streamQuery(streams, rest, since, true)
			if err != nil {
				yield(eventstore.Event{}, fmt.Errorf("%s: %w", op, err))
				return
			}
			for e, err := range s.events(ctx, op, on(query, args)) {
				if !yield(e, err) {
					return
				}
			}
			return
		}
		flush()
	}
}

// firstStreamQuery returns the query a read of streams starts with, and
// whether SQLite orders it by ID (several streams, which SQLite sorts
// anyway) or readStreams does (one stream).
func firstStreamQuery(streams []string, opts eventstore.ReadOptions) (query string, args []any, sorted bool, err error) {
	sorted = len(streams) > 1
	query, args, err = streamQuery(streams, opts, 0, sorted)
	return query, args, sorted, err
}

// streamQuery returns the query of a read of streams (not empty) and its
// arguments. Its rows come in Created order; sorted adds ID order (through
// SQLite's sorter) and the limit, which the caller applies otherwise. A
// non-zero since leaves out events created before it.
func streamQuery(streams []string, opts eventstore.ReadOptions, since eventstore.Timestamp, sorted bool) (string, []any, error) {
	var q strings.Builder
	args := make([]any, 0, len(streams)+len(opts.Types)+6)
	q.WriteString("SELECT " + eventCols + " FROM events WHERE stream")
	args = inList(&q, args, streams)
	q.WriteString(" AND rejected = 0")
	if len(opts.Types) > 0 {
		q.WriteString(" AND type")
		args = inList(&q, args, opts.Types)
	}
	for _, b := range []struct {
		c  eventstore.Cursor
		op string
	}{{opts.After, ">"}, {opts.Before, "<"}} {
		if b.c.IsZero() {
			continue
		}
		created, err := createdValue(b.c.Created)
		if err != nil {
			return "", nil, err
		}
		q.WriteString(" AND (created, id) " + b.op + " (?, ?)")
		args = append(args, created, b.c.ID)
	}
	if since != 0 {
		from, err := createdValue(since)
		if err != nil {
			return "", nil, err
		}
		q.WriteString(" AND created >= ?")
		args = append(args, from)
	}
	if opts.Until != 0 {
		until, err := createdValue(opts.Until)
		if err != nil {
			until = int64(^uint64(0) >> 1) // everything is before it
		}
		q.WriteString(" AND created <= ?")
		args = append(args, until)
	}
	switch {
	case !sorted && opts.Reverse:
		q.WriteString(" ORDER BY created DESC")
	case !sorted:
		q.WriteString(" ORDER BY created")
	case opts.Reverse:
		q.WriteString(" ORDER BY created DESC, id DESC LIMIT ?")
		args = append(args, sqlLimit(opts.Limit))
	default:
		q.WriteString(" ORDER BY created, id LIMIT ?")
		args = append(args, sqlLimit(opts.Limit))
	}
	return q.String(), args, nil
}

// inList writes " = ?" or " IN (?, ...)" for values and appends them to args.
func inList(q *strings.Builder, args []any, values []string) []any {
	if len(values) == 1 {
		q.WriteString(" = ?")
		return append(args, values[0])
	}
	q.WriteString(" IN (")
	for i, v := range values {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("?")
		args = append(args, v)
	}
	q.WriteString(")")
	return args
}

func errSeq(err error) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) { yield(eventstore.Event{}, err) }
}

// queryRow runs read statement i on the read pool.
func (s *Store) queryRow(ctx context.Context, i readStmt, args []any, dest ...any) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	return mapErr(s.rs[i].QueryRowContext(ctx, args...).Scan(dest...))
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (int64, error) {
	var h int64
	if err := s.queryRow(ctx, rsHead, []any{evictedHeadKey}, &h); err != nil {
		return 0, fmt.Errorf("head: %w", err)
	}
	s.learnHead(h)
	return h, nil
}

// Status implements eventstore.StatusReader.
func (s *Store) Status(ctx context.Context, e eventstore.Event) (eventstore.EventStatus, error) {
	var st eventstore.EventStatus
	created, err := createdValue(e.Created)
	if err != nil {
		return st, fmt.Errorf("status %s: %w", e.ID, err)
	}
	if err := s.queryRow(ctx, rsStatus, []any{e.ID, e.Stream, e.Type, created}, &st.Exists, &st.Outdated); err != nil {
		return st, fmt.Errorf("status %s: %w", e.ID, err)
	}
	st.Outdated = st.Outdated && !s.core.Commutative(e.Type)
	return st, nil
}

// StreamVersion implements eventstore.Store.
func (s *Store) StreamVersion(ctx context.Context, stream string) (int64, error) {
	var v int64
	err := s.queryRow(ctx, rsVersion, []any{stream}, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream version %s: %w", stream, err)
	}
	return v, nil
}

// ListStreams implements eventstore.StreamLister.
func (s *Store) ListStreams(ctx context.Context, opts eventstore.ListOptions) ([]eventstore.StreamInfo, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = eventstore.DefaultPageSize
	}
	q := "SELECT stream, sum(count) FROM stream_types WHERE stream > ?"
	args := []any{opts.After}
	if opts.Prefix != "" {
		// Valid UTF-8 never holds 0xff, so every name starting with Prefix
		// sorts before Prefix+"\xff" (SQLite compares text bytewise).
		q += " AND stream >= ? AND stream < ?"
		args = append(args, opts.Prefix, opts.Prefix+"\xff")
	}
	q += " GROUP BY stream ORDER BY stream LIMIT ?"
	args = append(args, limit)
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", mapErr(err))
	}
	defer rows.Close()
	var out []eventstore.StreamInfo
	for rows.Next() {
		var si eventstore.StreamInfo
		if err := rows.Scan(&si.Name, &si.Version); err != nil {
			return nil, fmt.Errorf("list streams: %w", mapErr(err))
		}
		out = append(out, si)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list streams: %w", mapErr(err))
	}
	return out, nil
}

// StreamsByKeys implements eventstore.Relations.
func (s *Store) StreamsByKeys(ctx context.Context, keys ...string) ([]string, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	if len(keys) == 0 {
		return nil, nil
	}
	var q strings.Builder
	q.WriteString("SELECT DISTINCT stream FROM relations WHERE key")
	args := inList(&q, make([]any, 0, len(keys)), keys)
	q.WriteString(" ORDER BY stream")
	rows, err := s.read.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("streams by keys: %w", mapErr(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var st string
		if err := rows.Scan(&st); err != nil {
			return nil, fmt.Errorf("streams by keys: %w", mapErr(err))
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("streams by keys: %w", mapErr(err))
	}
	return out, nil
}

// LoadSnapshot implements eventstore.Snapshots.
func (s *Store) LoadSnapshot(ctx context.Context, name, stream string) (eventstore.Snapshot, error) {
	snap := eventstore.Snapshot{Name: name, Stream: stream}
	var created int64
	err := s.queryRow(ctx, rsSnapshot, []any{stream, name}, &created, &snap.Cursor.ID, &snap.Version, &snap.State)
	if errors.Is(err, sql.ErrNoRows) {
		return eventstore.Snapshot{}, fmt.Errorf("snapshot %s/%s: %w", name, stream, eventstore.ErrNotFound)
	}
	if err != nil {
		return eventstore.Snapshot{}, fmt.Errorf("snapshot %s/%s: %w", name, stream, err)
	}
	snap.Cursor.Created = eventstore.Timestamp(created)
	snap.State = nonNil(snap.State)
	return snap, nil
}

// Checkpoint implements eventstore.Checkpoints.
func (s *Store) Checkpoint(ctx context.Context, name string) (int64, error) {
	var pos int64
	err := s.queryRow(ctx, rsCheckpoint, []any{name}, &pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("checkpoint %s: %w", name, err)
	}
	return pos, nil
}

// State implements eventstore.KeyValues.
func (s *Store) State(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.queryRow(ctx, rsState, []any{key}, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("state %s: %w", key, eventstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", key, err)
	}
	return nonNil(v), nil
}

// ListState implements eventstore.StateLister.
func (s *Store) ListState(ctx context.Context, prefix string) ([]eventstore.KeyValue, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	// Keys sort bytewise, so the matches are the run of keys from prefix
	// on that start with it.
	rows, err := s.read.QueryContext(ctx, "SELECT key, value FROM state WHERE key >= ? ORDER BY key", prefix)
	if err != nil {
		return nil, fmt.Errorf("list state: %w", mapErr(err))
	}
	defer rows.Close()
	var out []eventstore.KeyValue
	for rows.Next() {
		var kv eventstore.KeyValue
		if err := rows.Scan(&kv.Key, &kv.Value); err != nil {
			return nil, fmt.Errorf("list state: %w", mapErr(err))
		}
		if !strings.HasPrefix(kv.Key, prefix) {
			break
		}
		kv.Value = nonNil(kv.Value)
		out = append(out, kv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list state: %w", mapErr(err))
	}
	return out, nil
}
