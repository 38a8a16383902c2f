package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// eventCols are the columns scanEvent reads, in order.
const eventCols = "position, id, stream, type, schema, data, meta, created, origin, hub_position, hydrated, outdated, rejected, unknown, revived"

// writeStmt names a statement prepared once on the writer connection.
type writeStmt int

const (
	wsVersion writeStmt = iota
	wsBumpOne
	wsCountOne
	wsInvalidate
	wsLastOfType
	wsInsert1
	wsInsert4
	wsInsert16
	wsInsert64
	wsRemote1
	wsRemote4
	wsRemote16
	wsRemote64
	wsStoredIDs
	wsGreatestID
	wsTypesOf1
	wsTypesOf4
	wsTypesOf16
	wsTypesOf64
	wsBumpTypes1
	wsBumpTypes4
	wsBumpTypes16
	wsBumpTypes64
	wsInvalidate1
	wsInvalidate4
	wsInvalidate16
	wsInvalidate64
	wsByID
	wsRecordHub
	wsContentAt
	wsSetHub
	wsAddRelation
	wsRemoveRelation
	wsRemoveKey
	wsSaveSnapshot
	wsDeleteSnapshot
	wsDeleteSnapshots
	wsSetCheckpoint
	wsCheckpoint
	wsSetState
	wsState
	wsDeleteState
	wsReject
	wsUncount
	wsLatestOfType
	wsMoveType
	wsDropType
	wsReoutdate
	numWriteStmts
)

var writeSQL = [numWriteStmts]string{
	wsVersion:    `SELECT coalesce(sum(count), 0) FROM stream_types WHERE stream = ?`,
	wsLastOfType: `SELECT created, id FROM stream_types WHERE stream = ? AND type = ?`,
	wsBumpOne: `INSERT INTO stream_types (stream, type, count, created, id) VALUES (?1, ?2, 1, ?3, ?4)
		ON CONFLICT (stream, type) DO UPDATE SET count = count + 1, created = excluded.created, id = excluded.id
		WHERE (excluded.created, excluded.id) > (stream_types.created, stream_types.id)`,
	wsCountOne:       `UPDATE stream_types SET count = count + 1 WHERE stream = ? AND type = ?`,
	wsInvalidate:     `DELETE FROM snapshots WHERE stream = ? AND (created, event_id) >= (?, ?)`,
	wsInsert1:        insertLocalSQL(1),
	wsInsert4:        insertLocalSQL(4),
	wsInsert16:       insertLocalSQL(16),
	wsInsert64:       insertLocalSQL(64),
	wsRemote1:        insertRemoteSQL(1),
	wsRemote4:        insertRemoteSQL(4),
	wsRemote16:       insertRemoteSQL(16),
	wsRemote64:       insertRemoteSQL(64),
	wsTypesOf1:       typesOfSQL(1),
	wsTypesOf4:       typesOfSQL(4),
	wsTypesOf16:      typesOfSQL(16),
	wsTypesOf64:      typesOfSQL(64),
	wsBumpTypes1:     bumpTypesSQL(1),
	wsBumpTypes4:     bumpTypesSQL(4),
	wsBumpTypes16:    bumpTypesSQL(16),
	wsBumpTypes64:    bumpTypesSQL(64),
	wsInvalidate1:    invalidateSQL(1),
	wsInvalidate4:    invalidateSQL(4),
	wsInvalidate16:   invalidateSQL(16),
	wsInvalidate64:   invalidateSQL(64),
	wsStoredIDs:      `SELECT e.id, e.position, e.outdated, e.hub_position FROM json_each(?) AS j CROSS JOIN events AS e ON e.id = j.value`,
	wsGreatestID:     `SELECT max(id) FROM events`,
	wsByID:           `SELECT position, outdated, hub_position FROM events WHERE id = ?`,
	wsRecordHub:      `UPDATE events SET hub_position = ? WHERE position = ? AND hub_position = 0`,
	wsContentAt:      `SELECT id, stream, type, schema, data, meta, created, origin FROM events WHERE position = ?`,
	wsSetHub:         `UPDATE events SET hub_position = ? WHERE id = ? AND hub_position = 0`,
	wsAddRelation:    `INSERT INTO relations (key, stream) VALUES (?, ?) ON CONFLICT DO NOTHING`,
	wsRemoveRelation: `DELETE FROM relations WHERE key = ? AND stream = ?`,
	wsRemoveKey:      `DELETE FROM relations WHERE key = ?`,
	wsSaveSnapshot: `INSERT INTO snapshots (stream, name, created, event_id, version, state) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (stream, name) DO UPDATE SET created = excluded.created, event_id = excluded.event_id,
		version = excluded.version, state = excluded.state`,
	wsDeleteSnapshot:  `DELETE FROM snapshots WHERE stream = ? AND name = ?`,
	wsDeleteSnapshots: `DELETE FROM snapshots WHERE stream = ?`,
	wsSetCheckpoint: `INSERT INTO checkpoints (name, position) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET position = excluded.position`,
	wsCheckpoint: `SELECT position FROM checkpoints WHERE name = ?`,
	wsSetState: `INSERT INTO state (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
	wsState:       `SELECT value FROM state WHERE key = ?`,
	wsDeleteState: `DELETE FROM state WHERE key = ?`,
	wsReject: `UPDATE events SET rejected = 1
		WHERE id = ? AND rejected = 0 AND hydrated = 0 AND hub_position = 0 RETURNING stream, type, created, position`,
	wsUncount: `UPDATE stream_types SET count = count - 1 WHERE stream = ? AND type = ? RETURNING count, created, id`,
	wsLatestOfType: `SELECT created, id FROM events WHERE stream = ? AND type = ? AND rejected = 0
		ORDER BY created DESC, id DESC LIMIT 1`,
	wsMoveType: `UPDATE stream_types SET created = ?, id = ? WHERE stream = ? AND type = ?`,
	wsDropType: `DELETE FROM stream_types WHERE stream = ? AND type = ?`,
	// wsReoutdate re-derives Outdated, as if the rejected event (stream,
	// type, position, created, id) had never been stored, for the events it
	// could have made outdated: same stream and type, stored after it,
	// sorting before it.
	wsReoutdate: `UPDATE events AS e SET outdated = EXISTS (
			SELECT 1 FROM events AS x WHERE x.stream = e.stream AND x.type = e.type AND x.rejected = 0
				AND x.position < e.position AND (x.created, x.id) > (e.created, e.id))
		WHERE e.stream = ? AND e.type = ? AND e.outdated = 1 AND e.rejected = 0 AND e.position > ?
			AND (e.created, e.id) < (?, ?)`,
}

// maxRows is the most rows one multi-row statement carries.
const maxRows = 64

// rowsSQL returns head followed by rows copies of row, comma-separated,
// and tail.
func rowsSQL(head, row, tail string, rows int) string {
	var b strings.Builder
	b.WriteString(head)
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(tail)
	return b.String()
}

// sized picks, for n remaining rows, the largest statement of the family
// whose 1-row statement is one (the family's 1-, 4-, 16- and 64-row
// statements are consecutive), and returns it with its row count.
func sized(one writeStmt, n int) (writeStmt, int) {
	switch {
	case n >= 64:
		return one + 3, 64
	case n >= 16:
		return one + 2, 16
	case n >= 4:
		return one + 1, 4
	}
	return one, 1
}

// localCols is the number of arguments per row of insertLocalSQL.
const localCols = 9

// insertLocalSQL returns an INSERT of rows local events.
func insertLocalSQL(rows int) string {
	return rowsSQL("INSERT INTO events (id, stream, type, schema, data, meta, created, origin, outdated, hub_position, hydrated) VALUES ",
		"(?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)", "", rows)
}

// remoteCols is the number of arguments per row of insertRemoteSQL.
const remoteCols = 11

// insertRemoteSQL returns an INSERT of rows remote (hydrated) events. Its
// IDs are checked before (Insert reads the stored ones first), and OR
// IGNORE spares SQLite the statement journal that a multi-row INSERT which
// may abort halfway needs: a batch spread over many streams rewrites many
// index pages, and journaling each of them costs more than the insert.
// The caller checks that every row went in.
func insertRemoteSQL(rows int) string {
	return rowsSQL("INSERT OR IGNORE INTO events (id, stream, type, schema, data, meta, created, origin, outdated, hub_position, unknown, hydrated) VALUES ",
		"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)", "", rows)
}

// typesOfCols is the number of arguments per row of typesOfSQL.
const typesOfCols = 2

// typesOfSQL returns a query of the stream_types rows of rows (stream,
// type) pairs. (A JSON array of the pairs cost SQLite more: it re-parses
// an element for each field it extracts.)
func typesOfSQL(rows int) string {
	return rowsSQL("SELECT s.stream, s.type, s.created, s.id FROM (VALUES ", "(?, ?)",
		") AS v CROSS JOIN stream_types AS s ON s.stream = v.column1 AND s.type = v.column2", rows)
}

// bumpCols is the number of arguments per row of bumpTypesSQL.
const bumpCols = 5

// bumpTypesSQL returns an upsert of rows (stream, type, count, created, id)
// rows into stream_types: count events added, the latest of which is
// (created, id). The rows name distinct pairs.
func bumpTypesSQL(rows int) string {
	return rowsSQL("INSERT INTO stream_types (stream, type, count, created, id) VALUES ", "(?, ?, ?, ?, ?)",
		` ON CONFLICT (stream, type) DO UPDATE SET count = count + excluded.count,
		created = excluded.created, id = excluded.id`, rows)
}

// invalidateCols is the number of arguments per row of invalidateSQL.
const invalidateCols = 3

// invalidateSQL returns a DELETE of the snapshots at or after a cursor,
// for rows (stream, created, id) rows.
func invalidateSQL(rows int) string {
	return rowsSQL(`DELETE FROM snapshots WHERE (stream, name) IN (SELECT s.stream, s.name FROM (VALUES `, "(?, ?, ?)",
		`) AS v CROSS JOIN snapshots AS s ON s.stream = v.column1 WHERE (s.created, s.event_id) >= (v.column2, v.column3))`, rows)
}

// writeStmts holds the writer's statements, prepared at Open while the one
// writer connection is idle (preparing later, while a transaction holds it,
// would deadlock). Tx binds them with sql.Tx.StmtContext, which reuses the
// connection's prepared statement.
type writeStmts [numWriteStmts]*sql.Stmt

func (w *writeStmts) prepare(ctx context.Context, db *sql.DB) error {
	for i, q := range writeSQL {
		if q == "" {
			return fmt.Errorf("write statement %d has no SQL", i)
		}
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, mapErr(err))
		}
		w[i] = st
	}
	return nil
}

func (w *writeStmts) close() error {
	var errs []error
	for _, st := range w {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// readStmt names a statement prepared on the read pool.
type readStmt int

const (
	rsHead readStmt = iota
	rsReadAll
	rsPending
	rsStatus
	rsVersion
	rsSnapshot
	rsCheckpoint
	rsState
	numReadStmts
)

var readSQL = [numReadStmts]string{
	rsHead:    headSQL,
	rsReadAll: `SELECT ` + eventCols + ` FROM events WHERE position > ? ORDER BY position LIMIT ?`,
	rsPending: `SELECT ` + eventCols + ` FROM events WHERE hub_position = 0 AND hydrated = 0 AND rejected = 0 AND position > ?
		ORDER BY position LIMIT ?`,
	rsStatus: `SELECT EXISTS (SELECT 1 FROM events WHERE id = ?1),
		EXISTS (SELECT 1 FROM stream_types WHERE stream = ?2 AND type = ?3 AND (created, id) > (?4, ?1))`,
	rsVersion:    `SELECT coalesce(sum(count), 0) FROM stream_types WHERE stream = ?`,
	rsSnapshot:   `SELECT created, event_id, version, state FROM snapshots WHERE stream = ? AND name = ?`,
	rsCheckpoint: `SELECT position FROM checkpoints WHERE name = ?`,
	rsState:      `SELECT value FROM state WHERE key = ?`,
}

// readStmts holds the read pool's statements; database/sql prepares each on
// a pool connection the first time it is used there.
type readStmts [numReadStmts]*sql.Stmt

func (r *readStmts) prepare(ctx context.Context, db *sql.DB) error {
	for i, q := range readSQL {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, mapErr(err))
		}
		r[i] = st
	}
	return nil
}

func (r *readStmts) close() error {
	var errs []error
	for _, st := range r {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}
