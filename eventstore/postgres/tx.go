package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/internal/backend"
)

// Tx is the transaction Store.Update passes to its function. It implements
// eventstore.Tx; Pgx exposes the underlying transaction for read models in
// the same database. It must not be used after that function returns.
type Tx struct {
	s     *Store
	tx    pgx.Tx
	done  bool // the function returned: further use is an error
	wrote bool // events were stored: wake waiters after commit
}

var _ backend.ServerTx = (*Tx)(nil)

// Pgx returns the underlying pgx transaction. Statements run on it commit or
// roll back with the events written through t.
func (t *Tx) Pgx() pgx.Tx { return t.tx }

// Tenant returns the tenant of the store the transaction belongs to.
func (t *Tx) Tenant() string { return t.s.tenant }

func (t *Tx) check() error {
	if t.done {
		return fmt.Errorf("postgres: transaction used after Update returned: %w", eventstore.ErrClosed)
	}
	return nil
}

// StreamVersion implements eventstore.Tx. It takes the tenant's write lock
// first, so the version it returns stays true until the transaction ends: no
// concurrent Append or Insert can commit in between. That makes "check the
// version, then save a snapshot" (reducer.SaveSnapshot) safe under READ
// COMMITTED, where a late event's snapshot invalidation could otherwise miss
// a snapshot that was not yet committed.
func (t *Tx) StreamVersion(ctx context.Context, stream string) (int64, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	if _, err := t.lock(ctx); err != nil {
		return 0, wrapErr("lock for stream version "+stream, err)
	}
	return streamVersion(ctx, t.s.db, t.tx, t.s.tenant, stream)
}

// Checkpoint implements eventstore.Tx.
func (t *Tx) Checkpoint(ctx context.Context, name string) (int64, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	return checkpoint(ctx, t.s.db, t.tx, t.s.tenant, name)
}

// State implements eventstore.Tx.
func (t *Tx) State(ctx context.Context, key string) ([]byte, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	return state(ctx, t.s.db, t.tx, t.s.tenant, key)
}

// exec runs one statement of the tenant in t.
func (t *Tx) exec(ctx context.Context, op, sql string, args ...any) error {
	if err := t.check(); err != nil {
		return err
	}
	_, err := t.tx.Exec(ctx, t.s.db.q(sql), append([]any{t.s.tenant}, args...)...)
	return wrapErr(op, err)
}

// AddRelations implements eventstore.RelationWriter.
func (t *Tx) AddRelations(ctx context.Context, key string, streams ...string) error {
	if len(streams) == 0 {
		return t.check()
	}
	return t.exec(ctx, "add relations "+key, `INSERT INTO {s}.relations (tenant, key, stream)
SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING`, key, streams)
}

// RemoveRelations implements eventstore.RelationWriter.
func (t *Tx) RemoveRelations(ctx context.Context, key string, streams ...string) error {
	if len(streams) == 0 {
		return t.exec(ctx, "remove relations "+key, `DELETE FROM {s}.relations WHERE tenant = $1 AND key = $2`, key)
	}
	return t.exec(ctx, "remove relations "+key, `DELETE FROM {s}.relations
WHERE tenant = $1 AND key = $2 AND stream = ANY($3)`, key, streams)
}

// SaveSnapshot implements eventstore.SnapshotWriter.
func (t *Tx) SaveSnapshot(ctx context.Context, s eventstore.Snapshot) error {
	return t.exec(ctx, "save snapshot "+s.Name+" of "+s.Stream, `INSERT INTO {s}.snapshots AS sn
	(tenant, stream, name, cursor_created, cursor_id, version, state)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant, stream, name) DO UPDATE SET cursor_created = EXCLUDED.cursor_created,
	cursor_id = EXCLUDED.cursor_id, version = EXCLUDED.version, state = EXCLUDED.state`,
		s.Stream, s.Name, pgTime(s.Cursor.Created), s.Cursor.ID, s.Version, nonNil(s.State))
}

// DeleteSnapshot implements eventstore.SnapshotWriter.
func (t *Tx) DeleteSnapshot(ctx context.Context, name, stream string) error {
	if name == "" {
		return t.exec(ctx, "delete snapshots of "+stream, `DELETE FROM {s}.snapshots WHERE tenant = $1 AND stream = $2`, stream)
	}
	return t.exec(ctx, "delete snapshot "+name+" of "+stream, `DELETE FROM {s}.snapshots
WHERE tenant = $1 AND stream = $2 AND name = $3`, stream, name)
}

// SetCheckpoint implements eventstore.Checkpoints.
func (t *Tx) SetCheckpoint(ctx context.Context, name string, position int64) error {
	return t.exec(ctx, "set checkpoint "+name, `INSERT INTO {s}.checkpoints (tenant, name, position) VALUES ($1, $2, $3)
ON CONFLICT (tenant, name) DO UPDATE SET position = EXCLUDED.position`, name, position)
}

// SetState implements eventstore.KeyValues.
func (t *Tx) SetState(ctx context.Context, key string, value []byte) error {
	return t.exec(ctx, "set state "+key, `INSERT INTO {s}.state (tenant, key, value) VALUES ($1, $2, $3)
ON CONFLICT (tenant, key) DO UPDATE SET value = EXCLUDED.value`, key, nonNil(value))
}

// DeleteState implements eventstore.KeyValues.
func (t *Tx) DeleteState(ctx context.Context, key string) error {
	return t.exec(ctx, "delete state "+key, `DELETE FROM {s}.state WHERE tenant = $1 AND key = $2`, key)
}

// nonNil maps a nil slice to an empty one (the columns are NOT NULL).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
