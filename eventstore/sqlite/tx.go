package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/internal/backend"
)

// errTxDone reports use of a Tx after its Update returned.
var errTxDone = errors.New("sqlite: transaction used after Update returned")

// Tx is a write transaction on the store's writer connection (see
// Store.Update). It implements eventstore.SQLTx.
type Tx struct {
	s  *Store
	tx *sql.Tx
	// auto is set for the auto-committing Store.Append and Store.Insert,
	// whose whole transaction rolls back on error, so no savepoint is
	// needed to keep a failed call from leaving partial writes.
	auto   bool
	done   bool
	stored int // events stored, to decide whether to notify waiters
	// last is the highest position given to an event stored, which the
	// Store learns as committed (Store.learnHead) when tx commits.
	last  int64
	stmts [numWriteStmts]*sql.Stmt
	// writes counts the write statements run (exec), so that a call can
	// tell whether it failed before or after writing anything.
	writes int
	// broken is set when a write failed part-way without a savepoint to
	// undo it (see unguarded): the transaction can only roll back.
	broken error
}

var (
	_ backend.EdgeTx   = (*Tx)(nil)
	_ eventstore.SQLTx = (*Tx)(nil)
)

// SQL returns the underlying transaction, for read models stored in the same
// database: what is written through it commits or rolls back with the
// events. It must not be committed or rolled back by the caller.
func (tx *Tx) SQL() *sql.Tx { return tx.tx }

// Update implements eventstore.Store: it runs fn in one IMMEDIATE
// transaction on the writer connection, committing when fn returns nil and
// rolling back otherwise. Waiters are woken after a commit that stored
// events.
//
// fn must write through tx only: the Store's own Writer methods and Update
// need the writer connection that fn holds, and would wait for it until
// ctx ends. Reader methods called from fn read through the read pool and do
// not see fn's uncommitted writes; read those through tx (or tx.SQL()).
//
// An Append or Insert that fails inside fn for what it was given (a
// conflict, an invalid event, clock drift, an OnAppend hook's error) leaves
// nothing behind, so fn may handle the error and still commit its other
// writes. A database failure part-way through an Insert (an I/O error)
// cannot be undone alone: the transaction then refuses further writes, and
// Update rolls it back and returns that failure.
func (s *Store) Update(ctx context.Context, fn func(tx eventstore.Tx) error) error {
	return s.update(ctx, false, func(tx *Tx) error { return fn(tx) })
}

func (s *Store) update(ctx context.Context, auto bool, fn func(tx *Tx) error) (err error) {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	stx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", mapErr(err))
	}
	tx := &Tx{s: s, tx: stx, auto: auto}
	committed := false
	defer func() {
		tx.done = true
		if !committed {
			_ = stx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if tx.broken != nil {
		return tx.broken
	}
	committed = true
	if err := stx.Commit(); err != nil {
		if cerr := ctx.Err(); cerr != nil { // database/sql rolled it back
			return fmt.Errorf("sqlite: commit: %w", cerr)
		}
		return fmt.Errorf("sqlite: commit: %w", mapErr(err))
	}
	if tx.stored > 0 {
		s.learnHead(tx.last)
		s.core.Notifier.Broadcast()
	}
	return nil
}

// Append implements eventstore.Store in its own transaction.
func (s *Store) Append(ctx context.Context, writes ...eventstore.Write) (out []eventstore.Event, err error) {
	err = s.update(ctx, true, func(tx *Tx) error {
		out, err = tx.Append(ctx, writes...)
		return err
	})
	return out, err
}

// Insert implements eventstore.Store in its own transaction.
func (s *Store) Insert(ctx context.Context, events ...eventstore.Event) (out []eventstore.InsertResult, err error) {
	err = s.update(ctx, true, func(tx *Tx) error {
		out, err = tx.Insert(ctx, events...)
		return err
	})
	return out, err
}

// stmt returns the writer statement i bound to tx, preparing it on first use.
func (tx *Tx) stmt(ctx context.Context, i writeStmt) (*sql.Stmt, error) {
	if tx.done {
		return nil, errTxDone
	}
	if tx.broken != nil {
		return nil, tx.broken
	}
	if st := tx.stmts[i]; st != nil {
		return st, nil
	}
	tx.stmts[i] = tx.tx.StmtContext(ctx, tx.s.ws[i])
	return tx.stmts[i], nil
}

func (tx *Tx) exec(ctx context.Context, i writeStmt, args ...any) (sql.Result, error) {
	st, err := tx.stmt(ctx, i)
	if err != nil {
		return nil, err
	}
	tx.writes++
	res, err := st.ExecContext(ctx, args...)
	return res, mapErr(err)
}

func (tx *Tx) queryRow(ctx context.Context, i writeStmt, args []any, dest ...any) error {
	st, err := tx.stmt(ctx, i)
	if err != nil {
		return err
	}
	return mapErr(st.QueryRowContext(ctx, args...).Scan(dest...))
}

// savepoint runs fn inside a savepoint unless tx rolls back as a whole on
// error anyway, so a failed Append or Insert inside a caller's Update
// leaves nothing behind.
func (tx *Tx) savepoint(ctx context.Context, fn func() error) error {
	if tx.auto {
		return fn()
	}
	if tx.done {
		return errTxDone
	}
	if _, err := tx.tx.ExecContext(ctx, "SAVEPOINT ferry_write"); err != nil {
		return mapErr(err)
	}
	stored, last := tx.stored, tx.last
	if err := fn(); err != nil {
		tx.stored, tx.last = stored, last
		_, rerr := tx.tx.ExecContext(ctx, "ROLLBACK TO ferry_write")
		_, _ = tx.tx.ExecContext(ctx, "RELEASE ferry_write")
		return errors.Join(err, mapErr(rerr))
	}
	_, err := tx.tx.ExecContext(ctx, "RELEASE ferry_write")
	return mapErr(err)
}

// unguarded runs fn, a write call, without a savepoint: a savepoint makes
// SQLite copy every page the call changes into a statement journal first,
// which costs a large Insert (a pulled backlog) several percent. fn must
// fail, when it can fail for its input (invalid events, clock drift), before
// its first write statement; a failure after it (an I/O error) cannot be
// undone without the savepoint, so it breaks tx: the caller's Update then
// rolls back and returns the error, and tx refuses further use.
func (tx *Tx) unguarded(fn func() error) error {
	if tx.done {
		return errTxDone
	}
	writes, stored, last := tx.writes, tx.stored, tx.last
	err := fn()
	if err != nil && tx.writes > writes && !tx.auto {
		tx.stored, tx.last = stored, last
		tx.broken = fmt.Errorf("sqlite: transaction broken by a failed write: %w", err)
	}
	return err
}

// StreamVersion implements eventstore.Tx.
func (tx *Tx) StreamVersion(ctx context.Context, stream string) (int64, error) {
	v, err := tx.streamVersion(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("stream version %s: %w", stream, err)
	}
	return v, nil
}

func (tx *Tx) streamVersion(ctx context.Context, stream string) (int64, error) {
	var v int64
	err := tx.queryRow(ctx, wsVersion, []any{stream}, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// SetHubPositions implements eventstore.OutboxWriter. A hub position, once
// recorded, is not changed; acks with a position <= 0 are ignored.
func (tx *Tx) SetHubPositions(ctx context.Context, acks ...eventstore.HubAck) error {
	if tx.done {
		return errTxDone
	}
	for _, a := range acks {
		if a.HubPosition <= 0 {
			continue
		}
		if _, err := tx.exec(ctx, wsSetHub, a.HubPosition, a.ID); err != nil {
			return fmt.Errorf("set hub position %s: %w", a.ID, err)
		}
	}
	return nil
}

// AddRelations implements eventstore.RelationWriter.
func (tx *Tx) AddRelations(ctx context.Context, key string, streams ...string) error {
	for _, st := range streams {
		if _, err := tx.exec(ctx, wsAddRelation, key, st); err != nil {
			return fmt.Errorf("add relation %s: %w", key, err)
		}
	}
	return nil
}

// RemoveRelations implements eventstore.RelationWriter.
func (tx *Tx) RemoveRelations(ctx context.Context, key string, streams ...string) error {
	if len(streams) == 0 {
		if _, err := tx.exec(ctx, wsRemoveKey, key); err != nil {
			return fmt.Errorf("remove relations %s: %w", key, err)
		}
		return nil
	}
	for _, st := range streams {
		if _, err := tx.exec(ctx, wsRemoveRelation, key, st); err != nil {
			return fmt.Errorf("remove relation %s: %w", key, err)
		}
	}
	return nil
}

// SaveSnapshot implements eventstore.SnapshotWriter.
func (tx *Tx) SaveSnapshot(ctx context.Context, s eventstore.Snapshot) error {
	if s.Name == "" || s.Stream == "" {
		return fmt.Errorf("save snapshot: %w", &eventstore.ValidationError{Field: "snapshot", Reason: "name and stream must not be empty"})
	}
	created, err := createdValue(s.Cursor.Created)
	if err != nil {
		return fmt.Errorf("save snapshot %s/%s: %w", s.Name, s.Stream, err)
	}
	if _, err := tx.exec(ctx, wsSaveSnapshot, s.Stream, s.Name, created, s.Cursor.ID, s.Version, nonNil(s.State)); err != nil {
		return fmt.Errorf("save snapshot %s/%s: %w", s.Name, s.Stream, err)
	}
	return nil
}

// DeleteSnapshot implements eventstore.SnapshotWriter.
func (tx *Tx) DeleteSnapshot(ctx context.Context, name, stream string) error {
	var err error
	if name == "" {
		_, err = tx.exec(ctx, wsDeleteSnapshots, stream)
	} else {
		_, err = tx.exec(ctx, wsDeleteSnapshot, stream, name)
	}
	if err != nil {
		return fmt.Errorf("delete snapshot %s/%s: %w", name, stream, err)
	}
	return nil
}

// SetCheckpoint implements eventstore.Checkpoints.
func (tx *Tx) SetCheckpoint(ctx context.Context, name string, position int64) error {
	if _, err := tx.exec(ctx, wsSetCheckpoint, name, position); err != nil {
		return fmt.Errorf("set checkpoint %s: %w", name, err)
	}
	return nil
}

// Checkpoint implements eventstore.Tx.
func (tx *Tx) Checkpoint(ctx context.Context, name string) (int64, error) {
	var pos int64
	err := tx.queryRow(ctx, wsCheckpoint, []any{name}, &pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("checkpoint %s: %w", name, err)
	}
	return pos, nil
}

// SetState implements eventstore.KeyValues.
func (tx *Tx) SetState(ctx context.Context, key string, value []byte) error {
	if _, err := tx.exec(ctx, wsSetState, key, nonNil(value)); err != nil {
		return fmt.Errorf("set state %s: %w", key, err)
	}
	return nil
}

// State implements eventstore.Tx.
func (tx *Tx) State(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := tx.queryRow(ctx, wsState, []any{key}, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("state %s: %w", key, eventstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", key, err)
	}
	return nonNil(v), nil
}

// DeleteState implements eventstore.KeyValues.
func (tx *Tx) DeleteState(ctx context.Context, key string) error {
	if _, err := tx.exec(ctx, wsDeleteState, key); err != nil {
		return fmt.Errorf("delete state %s: %w", key, err)
	}
	return nil
}

// nonNil returns b, or an empty slice for nil (SQLite would store NULL).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
