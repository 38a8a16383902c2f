package sqlite

import (
	"errors"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteCode returns the (extended) SQLite result code of err, or 0.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// isUnique reports a UNIQUE or PRIMARY KEY constraint violation.
func isUnique(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// errBusy is wrapped into errors for SQLITE_BUSY, to say what it means.
var errBusy = errors.New("database is locked by another connection or process (busy timeout exceeded)")

// mapErr translates driver errors the API names: a closed pool becomes
// eventstore.ErrClosed, and SQLITE_BUSY, SQLITE_CORRUPT and SQLITE_NOTADB
// get an explanation. Other errors pass through.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if err.Error() == "sql: database is closed" { // database/sql has no sentinel for it
		return eventstore.ErrClosed
	}
	switch sqliteCode(err) & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("%w: %w", errBusy, err)
	case sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("database file is corrupt: %w", err)
	case sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("not a SQLite database: %w", err)
	}
	return err
}
