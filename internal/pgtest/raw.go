package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// RawTable is the baseline of the PostgreSQL benchmarks: a plain table with
// an event's columns and a primary key on its id, filled with one INSERT per
// row, with none of Ferry's work (positions, versions, notifications).
type RawTable struct {
	pool   *pgxpool.Pool
	insert string
}

// NewRawTable creates the table raw_events in schema.
func NewRawTable(t testing.TB, pool *pgxpool.Pool, schema string) *RawTable {
	t.Helper()
	table := pgx.Identifier{schema, "raw_events"}.Sanitize()
	_, err := pool.Exec(context.Background(), `CREATE TABLE `+table+` (
	id TEXT PRIMARY KEY, stream TEXT NOT NULL, type TEXT NOT NULL, schema INTEGER NOT NULL,
	data BYTEA NOT NULL, meta BYTEA NOT NULL, created BIGINT NOT NULL, origin TEXT NOT NULL)`)
	require.NoError(t, err)
	return &RawTable{pool: pool, insert: `INSERT INTO ` + table +
		` (id, stream, type, schema, data, meta, created, origin) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`}
}

// Insert stores events in one transaction, as a pgx.Batch of single-row
// INSERTs.
func (r *RawTable) Insert(ctx context.Context, events []eventstore.Event) error {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	batch := &pgx.Batch{}
	for _, e := range events {
		batch.Queue(r.insert, e.ID, e.Stream, e.Type, e.Schema, []byte(e.Data), []byte(e.Meta), int64(e.Created), e.Origin)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
