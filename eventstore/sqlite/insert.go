package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/ferrysync/ferry/eventstore"
)

// Insert implements eventstore.Store. It validates everything before its
// first write, so that it runs without a savepoint (see unguarded), and
// costs a fixed number of statements plus a few per (stream, type) pair,
// however many events it carries: one read of the greatest stored ID and,
// for the IDs at or below it, one query find the IDs stored already;
// Outdated is computed in memory from the pairs' stream_types rows, read
// with multi-row queries (see batch); the new events go in with multi-row
// INSERTs; and finish updates the bookkeeping once per pair and per
// stream. Only duplicates of local events that gain a hub position cost a
// statement each.
func (tx *Tx) Insert(ctx context.Context, in ...eventstore.Event) ([]eventstore.InsertResult, error) {
	if tx.done {
		return nil, errTxDone
	}
	events, err := tx.s.core.PrepareInsert(in)
	if err != nil {
		return nil, err
	}
	for i := range events {
		if _, err := createdValue(events[i].Created); err != nil {
			return nil, err
		}
	}
	results := make([]eventstore.InsertResult, len(events))
	err = tx.unguarded(func() error {
		n, err := tx.insertBatch(ctx, events, results)
		if err != nil {
			return err
		}
		tx.stored += n
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// known is an event whose ID is taken: stored before the call (fresh < 0),
// or the index in the call's new events of its first copy.
type known struct {
	position int64
	outdated bool
	hub      int64
	fresh    int
}

// repeat is a later copy, in one Insert call, of an ID the call stores:
// its results index, the first copy's index among the new events, and
// whether its content differs from the first's.
type repeat struct {
	result, fresh int
	conflict      bool
}

// insertBatch stores the events whose IDs are new, fills results in order
// and returns how many events it stored.
func (tx *Tx) insertBatch(ctx context.Context, events []eventstore.Event, results []eventstore.InsertResult) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	seen, err := tx.storedIDs(ctx, events)
	if err != nil {
		return 0, fmt.Errorf("insert: %w", err)
	}
	b := newBatch()
	if err := tx.loadTypes(ctx, b, events, seen); err != nil {
		return 0, fmt.Errorf("insert: %w", err)
	}
	// The new events are compacted into events itself (Insert's own copy):
	// fresh[j] is written only once events[j] has been handled.
	fresh := events[:0]
	at := make([]int, 0, len(events)) // results index of each fresh event
	var again []repeat                // repeated copies
	for i := range events {
		e := &events[i]
		hub := max(e.HubPosition, 0)
		k, ok := seen[e.ID]
		switch {
		case ok && k.fresh >= 0:
			// A later copy of an event of this call: a duplicate of the
			// first, which takes the hub position if it has none and the
			// copy is the same event.
			f := &fresh[k.fresh]
			conflict := f.HubPosition == 0 && hub > 0 && !eventstore.SameContent(*f, *e)
			if f.HubPosition == 0 && !conflict {
				f.HubPosition = hub
			}
			again = append(again, repeat{i, k.fresh, conflict})
		case ok:
			dup := *e
			dup.Position, dup.Outdated = k.position, k.outdated
			results[i] = eventstore.InsertResult{Event: dup}
			if k.hub == 0 && hub > 0 {
				// The hub position is the hub's copy's: record it only
				// on the same event.
				same, err := tx.sameAt(ctx, k.position, e)
				if err != nil {
					return 0, fmt.Errorf("insert %s: %w", e.ID, err)
				}
				if !same {
					results[i].Conflict = true
					continue
				}
				if _, err := tx.exec(ctx, wsRecordHub, hub, k.position); err != nil {
					return 0, fmt.Errorf("insert %s: %w", e.ID, err)
				}
				k.hub = hub
				seen[e.ID] = k
			}
		default:
			if e.Outdated, err = tx.outdated(ctx, b, e); err != nil {
				return 0, fmt.Errorf("insert %s: %w", e.ID, err)
			}
			e.HubPosition = hub
			b.stored(e)
			seen[e.ID] = known{fresh: len(fresh)}
			fresh = append(fresh, *e)
			at = append(at, i)
		}
	}
	if err := tx.insertRemote(ctx, fresh); err != nil {
		return 0, err
	}
	for j, i := range at {
		f := &fresh[j]
		results[i] = eventstore.InsertResult{Event: *f, Inserted: true}
	}
	for _, a := range again {
		results[a.result] = eventstore.InsertResult{Event: fresh[a.fresh], Conflict: a.conflict}
	}
	if err := tx.finish(ctx, b); err != nil {
		return 0, fmt.Errorf("insert: %w", err)
	}
	return len(fresh), nil
}

// storedIDs returns the events of the call whose IDs are stored already.
// Only an ID at or below the greatest stored one can be: Go compares
// strings byte by byte, as SQLite compares the id column (TEXT, BINARY
// collation: a migration giving it another collation must drop this), so
// one lookup of the id index's last entry clears every ID above it. A
// fresh client's pull mostly brings IDs newer than any it stores. The
// shortcut is best-effort: a store already holding a newer ID (its own
// events written before the pull, or an app's lowercase or far-future
// ULIDs) looks every ID up, with one query over a JSON array of them.
func (tx *Tx) storedIDs(ctx context.Context, events []eventstore.Event) (map[string]known, error) {
	seen := make(map[string]known, len(events))
	var greatest sql.NullString
	if err := tx.queryRow(ctx, wsGreatestID, nil, &greatest); err != nil {
		return nil, err
	}
	if !greatest.Valid { // no events stored
		return seen, nil
	}
	var ids strings.Builder
	for i := range events {
		id := events[i].ID
		if id > greatest.String {
			continue
		}
		if ids.Len() == 0 {
			ids.Grow((len(events) - i) * (len(id) + 3))
			ids.WriteByte('[')
		} else {
			ids.WriteByte(',')
		}
		// IDs are validated ULIDs (PrepareInsert): nothing to escape.
		ids.WriteByte('"')
		ids.WriteString(id)
		ids.WriteByte('"')
	}
	if ids.Len() == 0 {
		return seen, nil
	}
	ids.WriteByte(']')
	st, err := tx.stmt(ctx, wsStoredIDs)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, ids.String())
	if err != nil {
		return nil, mapErr(err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var id string
		k := known{fresh: -1}
		if err := rows.Scan(&id, &k.position, &k.outdated, &k.hub); err != nil {
			return nil, mapErr(err)
		}
		seen[id] = k
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	return seen, nil
}

// loadTypes reads into b, with multi-row queries of up to maxRows pairs,
// the latest cursors of the (stream, type) pairs of the events not stored
// already, so that outdated finds every pair in b.
func (tx *Tx) loadTypes(ctx context.Context, b *batch, events []eventstore.Event, stored map[string]known) error {
	var args []any
	for i := range events {
		e := &events[i]
		k := typeKey{e.Stream, e.Type}
		if _, ok := stored[e.ID]; ok {
			continue
		}
		if _, ok := b.typeIdx[k]; ok {
			continue
		}
		b.typeIdx[k] = len(b.types)
		b.types = append(b.types, typeDelta{key: k})
		args = append(args, e.Stream, e.Type)
	}
	for len(args) > 0 {
		q, n := sized(wsTypesOf1, len(args)/typesOfCols)
		if err := tx.readTypes(ctx, b, q, args[:n*typesOfCols]); err != nil {
			return err
		}
		args = args[n*typesOfCols:]
	}
	return nil
}

// readTypes runs the stream_types query q over args and records the
// cursors it finds in b.
func (tx *Tx) readTypes(ctx context.Context, b *batch, q writeStmt, args []any) error {
	st, err := tx.stmt(ctx, q)
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return mapErr(err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var k typeKey
		var c eventstore.Cursor
		var created int64
		if err := rows.Scan(&k.stream, &k.typ, &created, &c.ID); err != nil {
			return mapErr(err)
		}
		c.Created = eventstore.Timestamp(created)
		if i, ok := b.typeIdx[k]; ok {
			b.types[i].latest = c
		}
	}
	return mapErr(rows.Err())
}

// insertRemote stores remote events (Outdated and HubPosition already set)
// with multi-row INSERTs of up to maxRows rows, and sets their positions
// from the consecutive rowids of each INSERT, as insertLocal does.
func (tx *Tx) insertRemote(ctx context.Context, events []eventstore.Event) error {
	return tx.aboveEvicted(ctx, func() error { return tx.insertRemoteRows(ctx, events) })
}

// insertRemoteRows is insertRemote's INSERTs.
func (tx *Tx) insertRemoteRows(ctx context.Context, events []eventstore.Event) error {
	args := make([]any, 0, remoteCols*min(len(events), maxRows))
	for rest := events; len(rest) > 0; {
		st, n := sized(wsRemote1, len(rest))
		args = args[:0]
		for i := range rest[:n] {
			e := &rest[i]
			args = append(args, e.ID, e.Stream, e.Type, e.Schema, []byte(e.Data), []byte(e.Meta), int64(e.Created), e.Origin,
				e.Outdated, e.HubPosition, e.Unknown)
		}
		res, err := tx.exec(ctx, st, args...)
		if err != nil {
			return fmt.Errorf("insert %s: %w", rest[0].ID, err)
		}
		stored, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("insert %s: %w", rest[0].ID, err)
		}
		if stored != int64(n) { // an ID taken after all: cannot happen in the write transaction
			return fmt.Errorf("insert %s: %d of %d events stored", rest[0].ID, stored, n)
		}
		last, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("insert %s: %w", rest[0].ID, err)
		}
		for i := range rest[:n] {
			rest[i].Position = last - int64(n-1-i)
		}
		tx.last = max(tx.last, last)
		rest = rest[n:]
	}
	return nil
}

// sameAt reports whether the event stored at position has e's content
// (eventstore.SameContent).
func (tx *Tx) sameAt(ctx context.Context, position int64, e *eventstore.Event) (bool, error) {
	var s eventstore.Event
	var created int64
	err := tx.queryRow(ctx, wsContentAt, []any{position}, &s.ID, &s.Stream, &s.Type, &s.Schema,
		(*[]byte)(&s.Data), (*[]byte)(&s.Meta), &created, &s.Origin)
	if err != nil {
		return false, err
	}
	s.Created = eventstore.Timestamp(created)
	return eventstore.SameContent(s, *e), nil
}
