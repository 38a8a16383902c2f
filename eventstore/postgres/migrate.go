package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ferrysync/ferry/eventstore"
)

// migrations are the schema steps, in order: migrations[i] brings the schema
// to version i+1. Steps are appended, never edited. "{s}" stands for the
// quoted schema name.
var migrations = []string{
	// 1: the initial layout.
	`
CREATE TABLE {s}.tenants (
	tenant TEXT COLLATE "C" PRIMARY KEY,
	head   BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE {s}.events (
	tenant       TEXT COLLATE "C" NOT NULL,
	position     BIGINT NOT NULL,
	id           TEXT COLLATE "C" NOT NULL,
	stream       TEXT COLLATE "C" NOT NULL,
	type         TEXT COLLATE "C" NOT NULL,
	schema       INTEGER NOT NULL,
	data         BYTEA NOT NULL,
	meta         BYTEA NOT NULL,
	created      BIGINT NOT NULL,
	origin       TEXT COLLATE "C" NOT NULL,
	hub_position BIGINT NOT NULL DEFAULT 0,
	hydrated     BOOLEAN NOT NULL,
	outdated     BOOLEAN NOT NULL,
	PRIMARY KEY (tenant, position),
	UNIQUE (tenant, id)
);
CREATE INDEX events_stream_idx ON {s}.events (tenant, stream, created, id);
CREATE INDEX events_pending_idx ON {s}.events (tenant, position) WHERE hub_position = 0 AND NOT hydrated;
CREATE TABLE {s}.streams (
	tenant  TEXT COLLATE "C" NOT NULL,
	stream  TEXT COLLATE "C" NOT NULL,
	version BIGINT NOT NULL,
	PRIMARY KEY (tenant, stream)
);
CREATE TABLE {s}.stream_types (
	tenant  TEXT COLLATE "C" NOT NULL,
	stream  TEXT COLLATE "C" NOT NULL,
	type    TEXT COLLATE "C" NOT NULL,
	created BIGINT NOT NULL,
	id      TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (tenant, stream, type)
);
CREATE TABLE {s}.relations (
	tenant TEXT COLLATE "C" NOT NULL,
	key    TEXT COLLATE "C" NOT NULL,
	stream TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (tenant, key, stream)
);
CREATE TABLE {s}.snapshots (
	tenant         TEXT COLLATE "C" NOT NULL,
	stream         TEXT COLLATE "C" NOT NULL,
	name           TEXT COLLATE "C" NOT NULL,
	cursor_created BIGINT NOT NULL,
	cursor_id      TEXT COLLATE "C" NOT NULL,
	version        BIGINT NOT NULL,
	state          BYTEA NOT NULL,
	PRIMARY KEY (tenant, stream, name)
);
CREATE TABLE {s}.checkpoints (
	tenant   TEXT COLLATE "C" NOT NULL,
	name     TEXT COLLATE "C" NOT NULL,
	position BIGINT NOT NULL,
	PRIMARY KEY (tenant, name)
);
CREATE TABLE {s}.state (
	tenant TEXT COLLATE "C" NOT NULL,
	key    TEXT COLLATE "C" NOT NULL,
	value  BYTEA NOT NULL,
	PRIMARY KEY (tenant, key)
);
`,
	// 2: rejected events (OutboxWriter.Reject). A NOT NULL column with a constant
	// default is added without rewriting the table; the outbox index leaves
	// rejected events out.
	`
ALTER TABLE {s}.events ADD COLUMN rejected BOOLEAN NOT NULL DEFAULT false;
DROP INDEX {s}.events_pending_idx;
CREATE INDEX events_pending_idx ON {s}.events (tenant, position) WHERE hub_position = 0 AND NOT hydrated AND NOT rejected;
`,
	// 3: each tenant's ledger generation (Store.Generation), created with
	// its row. The volatile default gives every existing tenant its own
	// (the small tenants table is rewritten once).
	`
ALTER TABLE {s}.tenants ADD COLUMN generation TEXT COLLATE "C" NOT NULL DEFAULT gen_random_uuid()::text;
`,
}

// migrate creates the schema or brings it up to SchemaVersion, in one
// transaction serialised across processes by an advisory lock.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string, q func(string) string) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey(schema)); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, q(`CREATE SCHEMA IF NOT EXISTS {s}`)); err != nil {
		return fmt.Errorf("migrate: create schema: %w", err)
	}
	if _, err := tx.Exec(ctx, q(`CREATE TABLE IF NOT EXISTS {s}.schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`)); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, q(`SELECT coalesce(max(version), 0) FROM {s}.schema_migrations`)).Scan(&current); err != nil {
		return fmt.Errorf("migrate: read version: %w: %w", eventstore.ErrIncompatibleSchema, err)
	}
	if current > len(migrations) {
		return fmt.Errorf("migrate: schema %q is at version %d, this Ferry knows up to %d: %w",
			schema, current, len(migrations), eventstore.ErrIncompatibleSchema)
	}
	for v := current + 1; v <= len(migrations); v++ {
		if _, err := tx.Exec(ctx, q(migrations[v-1])); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "42P07" { // duplicate_table: not our schema
				return fmt.Errorf("migrate: step %d: %w: %w", v, eventstore.ErrIncompatibleSchema, err)
			}
			return fmt.Errorf("migrate: step %d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, q(`INSERT INTO {s}.schema_migrations (version) VALUES ($1)`), v); err != nil {
			return fmt.Errorf("migrate: record step %d: %w", v, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// migrationLockKey is the advisory lock key guarding migrations of schema.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("ferry.migrate:" + schema))
	return int64(h.Sum64())
}

// quoteIdent quotes a schema name for use in SQL text.
func quoteIdent(name string) string { return pgx.Identifier{name}.Sanitize() }
