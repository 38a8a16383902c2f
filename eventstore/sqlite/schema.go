package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
)

// ApplicationID is the SQLite application_id of a Ferry event store file
// ("FRRY"). A SQLite file with tables and another application_id is not
// opened.
const ApplicationID = 0x46525259

// migrations are the schema versions in order: migrations[i] takes a file
// from user_version i to i+1. Append new steps; never edit shipped ones.
var migrations = []string{
	// 1: the initial schema.
	`
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE events (
	position     INTEGER PRIMARY KEY,
	id           TEXT    NOT NULL UNIQUE,
	stream       TEXT    NOT NULL,
	type         TEXT    NOT NULL,
	schema       INTEGER NOT NULL,
	data         BLOB    NOT NULL,
	meta         BLOB    NOT NULL,
	created      INTEGER NOT NULL,
	origin       TEXT    NOT NULL,
	hub_position INTEGER NOT NULL DEFAULT 0,
	hydrated     INTEGER NOT NULL,
	outdated     INTEGER NOT NULL
);
CREATE INDEX events_stream ON events (stream, created, id);
CREATE INDEX events_pending ON events (position) WHERE hub_position = 0 AND hydrated = 0;

-- One row per (stream, type): how many events of the type the stream holds
-- and the greatest (created, id) among them. A stream's version is the sum
-- of its counts; an event is outdated when its type's row is past it. This
-- replaces an index on events (stream, type, created, id): one small row
-- updated in place instead of one index entry per event.
CREATE TABLE stream_types (
	stream  TEXT    NOT NULL,
	type    TEXT    NOT NULL,
	count   INTEGER NOT NULL,
	created INTEGER NOT NULL,
	id      TEXT    NOT NULL,
	PRIMARY KEY (stream, type)
) WITHOUT ROWID;

-- A type's latest cursor moves to each new event that sorts last; the
-- stream's snapshots at or after that event are stale. (Events that do not
-- sort last leave the row's cursor alone; the store deletes the snapshots
-- they invalidate itself.)
CREATE TRIGGER stream_types_inserted AFTER INSERT ON stream_types BEGIN
	DELETE FROM snapshots WHERE stream = NEW.stream AND (created, event_id) >= (NEW.created, NEW.id);
END;
CREATE TRIGGER stream_types_moved AFTER UPDATE OF id ON stream_types BEGIN
	DELETE FROM snapshots WHERE stream = NEW.stream AND (created, event_id) >= (NEW.created, NEW.id);
END;

CREATE TABLE relations (
	key    TEXT NOT NULL,
	stream TEXT NOT NULL,
	PRIMARY KEY (key, stream)
) WITHOUT ROWID;

CREATE TABLE snapshots (
	stream   TEXT    NOT NULL,
	name     TEXT    NOT NULL,
	created  INTEGER NOT NULL,
	event_id TEXT    NOT NULL,
	version  INTEGER NOT NULL,
	state    BLOB    NOT NULL,
	PRIMARY KEY (stream, name)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
	name     TEXT PRIMARY KEY,
	position INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE state (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
) WITHOUT ROWID;
`,
	// 2: rejected events (OutboxWriter.Reject). Adding a NOT NULL column with a
	// constant default rewrites no rows. The outbox index leaves rejected
	// events out. A type's latest cursor now also moves back (when its
	// latest event is rejected): only a forward move invalidates snapshots
	// through the trigger; Reject deletes the ones it invalidates itself.
	`
ALTER TABLE events ADD COLUMN rejected INTEGER NOT NULL DEFAULT 0;

DROP INDEX events_pending;
CREATE INDEX events_pending ON events (position) WHERE hub_position = 0 AND hydrated = 0 AND rejected = 0;

DROP TRIGGER stream_types_moved;
CREATE TRIGGER stream_types_moved AFTER UPDATE OF id ON stream_types
WHEN (NEW.created, NEW.id) > (OLD.created, OLD.id) BEGIN
	DELETE FROM snapshots WHERE stream = NEW.stream AND (created, event_id) >= (NEW.created, NEW.id);
END;
`,
	// 3: a narrower stream index. Its entries are (stream, created, rowid)
	// instead of (stream, created, id, rowid), about half the bytes: a pull
	// that interleaves many streams inserts into a different leaf of this
	// index with every event, and the narrower entries split half as many
	// pages (BenchmarkCatchUp: 40k to 49k events/s). Stream reads still
	// walk the index in created order; readStreams puts the rare events of
	// a stream that share a created value in id order itself
	// (TestStreamReadPlans, TestStreamReadTies). Rebuilding the index reads
	// the events table once: 2.1 s at Open for 1,000,000 events here.
	`
DROP INDEX events_stream;
CREATE INDEX events_stream ON events (stream, created);
`,
	// 4: events kept although this app version's registry refused them
	// (eventstore.Event.Unknown), and their revival numbers once a newer
	// registry accepts them (eventstore.Reviver). Constant defaults rewrite
	// no rows; the partial indexes hold only the rare flagged events.
	`
ALTER TABLE events ADD COLUMN unknown INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN revived INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_unknown ON events (position) WHERE unknown = 1;
CREATE INDEX events_revived ON events (revived) WHERE revived > 0;
`,
}

// SchemaVersion returns the schema version this package writes (the file's
// PRAGMA user_version). Opening a file of an older version migrates it;
// a newer version is refused with eventstore.ErrIncompatibleSchema.
func SchemaVersion() int { return len(migrations) }

// originKey is the meta key of the generated node id.
const originKey = "origin"

// init checks the file, migrates it and returns the origin it belongs to
// (see claimOrigin).
func (s *Store) init(ctx context.Context, configured string) (string, error) {
	var mode string
	if err := s.write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return "", mapErr(err)
	}
	if mode != "wal" {
		return "", fmt.Errorf("journal_mode is %q, not wal (is the file on a file system without shared memory?)", mode)
	}
	tx, err := s.write.BeginTx(ctx, nil) // IMMEDIATE: no other opener races us
	if err != nil {
		return "", mapErr(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := migrate(ctx, tx, migrations); err != nil {
		return "", err
	}
	generated, err := loadOrigin(ctx, tx)
	if err != nil {
		return "", err
	}
	origin, err := claimOrigin(ctx, tx, configured, generated)
	if err != nil {
		return "", err
	}
	if s.gen, err = claimGeneration(ctx, tx); err != nil {
		return "", err
	}
	evicted, err := loadEvictedHead(ctx, tx)
	if err != nil {
		return "", err
	}
	s.evictedHead.Store(evicted)
	if err := tx.Commit(); err != nil {
		return "", mapErr(err)
	}
	return origin, nil
}

// migrate brings the schema in tx up to len(steps), checking first that the
// file belongs to Ferry and is not newer than steps.
func migrate(ctx context.Context, tx *sql.Tx, steps []string) error {
	var appID, version int64
	if err := tx.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return mapErr(err)
	}
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return mapErr(err)
	}
	switch {
	case appID == 0 && version == 0:
		var tables int
		err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").Scan(&tables)
		if err != nil {
			return mapErr(err)
		}
		if tables > 0 {
			return fmt.Errorf("%w: the file holds %d tables or indexes but is not a Ferry store (application_id 0)", eventstore.ErrIncompatibleSchema, tables)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", ApplicationID)); err != nil {
			return mapErr(err)
		}
	case appID != ApplicationID:
		return fmt.Errorf("%w: application_id %#x is not Ferry's (%#x)", eventstore.ErrIncompatibleSchema, appID, ApplicationID)
	case version > int64(len(steps)):
		return fmt.Errorf("%w: schema version %d was written by a newer Ferry; this build knows versions up to %d",
			eventstore.ErrIncompatibleSchema, version, len(steps))
	case version < 0:
		return fmt.Errorf("%w: schema version %d is invalid", eventstore.ErrIncompatibleSchema, version)
	}
	for v := int(version); v < len(steps); v++ {
		if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v+1, mapErr(err))
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v+1, mapErr(err))
		}
	}
	return nil
}

// loadOrigin returns the node id stored in meta, generating it first when
// the file has none.
func loadOrigin(ctx context.Context, tx *sql.Tx) (string, error) {
	var origin string
	err := tx.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", originKey).Scan(&origin)
	if errors.Is(err, sql.ErrNoRows) {
		origin = eventstore.NewID()
		_, err = tx.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES (?, ?)", originKey, origin)
	}
	if err != nil {
		return "", fmt.Errorf("load origin: %w", mapErr(err))
	}
	return origin, nil
}
