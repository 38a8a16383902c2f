package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/internal/backend"
)

// createdValue converts a Timestamp to the INTEGER column value. Timestamps
// past math.MaxInt64 (millions of years away) are refused rather than
// stored out of order.
func createdValue(t eventstore.Timestamp) (int64, error) {
	if t > math.MaxInt64 {
		return 0, &eventstore.ValidationError{Field: "created", Reason: "timestamp beyond the range this store holds"}
	}
	return int64(t), nil
}

// batch is the bookkeeping of one Append or Insert call. Per (stream, type)
// it holds the latest stored cursor, read from stream_types the first time
// the pair is seen and then kept current in memory, so Outdated costs one
// indexed lookup per pair and call rather than one per event; and the number
// of events added. Per stream it holds the earliest cursor added, for
// snapshot invalidation. finish writes it all back with multi-row
// statements.
type batch struct {
	types   []typeDelta
	typeIdx map[typeKey]int
	streams []streamDelta
	index   map[string]int
}

type typeKey struct{ stream, typ string }

type typeDelta struct {
	key    typeKey
	latest eventstore.Cursor // zero: none stored
	added  int64
}

type streamDelta struct {
	name     string
	earliest eventstore.Cursor
}

func newBatch() *batch {
	return &batch{typeIdx: make(map[typeKey]int, 1), index: make(map[string]int, 1)}
}

// typeOf returns the entry of e's (stream, type), reading it on first use.
func (tx *Tx) typeOf(ctx context.Context, b *batch, e *eventstore.Event) (*typeDelta, error) {
	k := typeKey{e.Stream, e.Type}
	if i, ok := b.typeIdx[k]; ok {
		return &b.types[i], nil
	}
	d := typeDelta{key: k}
	var created int64
	err := tx.queryRow(ctx, wsLastOfType, []any{e.Stream, e.Type}, &created, &d.latest.ID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	default:
		d.latest.Created = eventstore.Timestamp(created)
	}
	b.typeIdx[k] = len(b.types)
	b.types = append(b.types, d)
	return &b.types[len(b.types)-1], nil
}

// outdated reports whether a stored event of e's stream and type sorts
// after e (whether the type's latest cursor is past e's), for a type that
// is not commutative.
func (tx *Tx) outdated(ctx context.Context, b *batch, e *eventstore.Event) (bool, error) {
	d, err := tx.typeOf(ctx, b, e)
	if err != nil {
		return false, err
	}
	return !d.latest.IsZero() && d.latest.Compare(eventstore.CursorOf(*e)) > 0 && !tx.s.core.Commutative(e.Type), nil
}

// stored records that e is stored; outdated must have been called for e.
func (b *batch) stored(e *eventstore.Event) {
	c := eventstore.CursorOf(*e)
	d := &b.types[b.typeIdx[typeKey{e.Stream, e.Type}]]
	d.added++
	if c.Compare(d.latest) > 0 {
		d.latest = c
	}
	i, ok := b.index[e.Stream]
	if !ok {
		b.index[e.Stream] = len(b.streams)
		b.streams = append(b.streams, streamDelta{name: e.Stream, earliest: c})
		return
	}
	if c.Compare(b.streams[i].earliest) < 0 {
		b.streams[i].earliest = c
	}
}

// finish records the counts and latest cursors of the (stream, type) pairs
// written, and deletes the snapshots of the streams written whose cursor is
// at or after an event just stored (a late event invalidates them), with
// multi-row statements of up to maxRows pairs or streams. (A JSON array
// per statement cost SQLite more: it re-parses an element for each field
// it extracts.)
func (tx *Tx) finish(ctx context.Context, b *batch) error {
	var args []any
	for _, d := range b.types {
		if d.added > 0 {
			args = append(args, d.key.stream, d.key.typ, d.added, int64(d.latest.Created), d.latest.ID)
		}
	}
	if err := tx.execRows(ctx, wsBumpTypes1, bumpCols, args); err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	args = args[:0]
	for _, d := range b.streams {
		args = append(args, d.name, int64(d.earliest.Created), d.earliest.ID)
	}
	if err := tx.execRows(ctx, wsInvalidate1, invalidateCols, args); err != nil {
		return fmt.Errorf("invalidate snapshots: %w", err)
	}
	return nil
}

// execRows runs the statement family whose 1-row statement is one (see
// sized) over args, cols arguments per row, in as few statements as it
// can.
func (tx *Tx) execRows(ctx context.Context, one writeStmt, cols int, args []any) error {
	for len(args) > 0 {
		st, n := sized(one, len(args)/cols)
		if _, err := tx.exec(ctx, st, args[:n*cols]...); err != nil {
			return err
		}
		args = args[n*cols:]
	}
	return nil
}

// Append implements eventstore.Store.
func (tx *Tx) Append(ctx context.Context, writes ...eventstore.Write) ([]eventstore.Event, error) {
	if tx.done {
		return nil, errTxDone
	}
	events, err := tx.s.core.PrepareAppend(writes)
	if err != nil {
		return nil, err
	}
	for i := range events {
		if _, err := createdValue(events[i].Created); err != nil {
			return nil, err
		}
	}
	err = tx.savepoint(ctx, func() error {
		if err := tx.checkExpected(ctx, writes); err != nil {
			return err
		}
		if len(events) == 1 {
			if err := tx.appendSingle(ctx, events); err != nil {
				return err
			}
		} else if err := tx.appendBatch(ctx, events); err != nil {
			return err
		}
		tx.stored += len(events)
		return tx.s.core.AfterAppend(ctx, tx, events)
	})
	if err != nil {
		return nil, err
	}
	return events, nil
}

// appendBatch stores events: Outdated from one stream_types lookup per
// (stream, type), multi-row INSERTs, then one stream_types update per pair.
func (tx *Tx) appendBatch(ctx context.Context, events []eventstore.Event) error {
	b := newBatch()
	for i := range events {
		e := &events[i]
		var err error
		if e.Outdated, err = tx.outdated(ctx, b, e); err != nil {
			return fmt.Errorf("append %s: %w", e.Stream, err)
		}
		b.stored(e)
	}
	if err := tx.insertLocal(ctx, events); err != nil {
		return err
	}
	if err := tx.finish(ctx, b); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	return nil
}

// appendSingle stores one event, usually with two statements. The
// stream_types upsert counts the event and makes it its type's latest
// unless a later event of the type is stored; the stream_types triggers then
// delete the stream's snapshots at or after it. When a later event is
// stored the upsert changes nothing: the event is outdated, and two more
// statements count it and invalidate the snapshots after it.
func (tx *Tx) appendSingle(ctx context.Context, events []eventstore.Event) error {
	e := &events[0]
	res, err := tx.exec(ctx, wsBumpOne, e.Stream, e.Type, int64(e.Created), e.ID)
	if err != nil {
		return fmt.Errorf("append %s: %w", e.Stream, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("append %s: %w", e.Stream, err)
	}
	late := n == 0 // a later event of the type is stored
	e.Outdated = late && !tx.s.core.Commutative(e.Type)
	if late {
		if _, err := tx.exec(ctx, wsCountOne, e.Stream, e.Type); err != nil {
			return fmt.Errorf("append %s: %w", e.Stream, err)
		}
		if _, err := tx.exec(ctx, wsInvalidate, e.Stream, int64(e.Created), e.ID); err != nil {
			return fmt.Errorf("append %s: invalidate snapshots: %w", e.Stream, err)
		}
	}
	return tx.insertLocal(ctx, events)
}

// checkExpected checks each write's expectation against its stream's version
// as it stands after the earlier writes of the call. Streams written with
// Any are not read at all.
func (tx *Tx) checkExpected(ctx context.Context, writes []eventstore.Write) error {
	need := false
	for _, w := range writes {
		need = need || w.Expect != eventstore.Any
	}
	if !need {
		return nil
	}
	base, added := make(map[string]int64), make(map[string]int64)
	for _, w := range writes {
		if w.Expect != eventstore.Any {
			v, ok := base[w.Stream]
			if !ok {
				var err error
				if v, err = tx.streamVersion(ctx, w.Stream); err != nil {
					return fmt.Errorf("append %s: %w", w.Stream, err)
				}
				base[w.Stream] = v
			}
			if err := w.Expect.Check(w.Stream, v+added[w.Stream]); err != nil {
				return err
			}
		}
		added[w.Stream] += int64(len(w.Events))
	}
	return nil
}

// insertLocal stores events (Outdated already set) with multi-row INSERTs of
// up to maxRows rows, and sets their positions. The rows of one INSERT get
// consecutive rowids, so each position follows from the last one.
func (tx *Tx) insertLocal(ctx context.Context, events []eventstore.Event) error {
	return tx.aboveEvicted(ctx, func() error { return tx.insertLocalRows(ctx, events) })
}

// insertLocalRows is insertLocal's INSERTs.
func (tx *Tx) insertLocalRows(ctx context.Context, events []eventstore.Event) error {
	args := make([]any, 0, localCols*min(len(events), maxRows))
	for rest := events; len(rest) > 0; {
		st, n := sized(wsInsert1, len(rest))
		args = args[:0]
		for i := range rest[:n] {
			e := &rest[i]
			args = append(args, e.ID, e.Stream, e.Type, e.Schema, []byte(e.Data), []byte(e.Meta), int64(e.Created), e.Origin, e.Outdated)
		}
		res, err := tx.exec(ctx, st, args...)
		if err != nil {
			if isUnique(err) {
				if dup := tx.duplicate(ctx, events); dup != nil {
					return dup
				}
			}
			return fmt.Errorf("append %s: %w", rest[0].Stream, err)
		}
		last, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("append %s: %w", rest[0].Stream, err)
		}
		for i := range rest[:n] {
			rest[i].Position = last - int64(n-1-i)
		}
		tx.last = max(tx.last, last)
		rest = rest[n:]
	}
	return nil
}

// duplicate finds the event of events whose ID is stored already or repeated
// in events, after an INSERT failed on the unique id.
func (tx *Tx) duplicate(ctx context.Context, events []eventstore.Event) error {
	seen := make(map[string]bool, len(events))
	for _, e := range events {
		if seen[e.ID] {
			return backend.DuplicateIDError(e)
		}
		seen[e.ID] = true
	}
	for _, e := range events {
		var pos, hub int64
		var outdated bool
		err := tx.queryRow(ctx, wsByID, []any{e.ID}, &pos, &outdated, &hub)
		if err == nil {
			return backend.DuplicateIDError(e)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	return nil
}
