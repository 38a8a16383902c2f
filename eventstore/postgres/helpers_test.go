package postgres

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/pgtest"
)

// testSchema returns a fresh schema name and drops the schema when the test
// ends (after the DBs opened on it are closed, since cleanups run last in,
// first out).
func testSchema(t testing.TB) string {
	t.Helper()
	return pgtest.Schema(t, "ferry_test_")
}

// openDB opens a DB on schema and closes it when the test ends.
func openDB(t testing.TB, schema string, opts Options) *DB {
	t.Helper()
	opts.Schema = schema
	db, err := Open(context.Background(), pgtest.URL(t), opts)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	return db
}

// openStore opens a tenant store on db and closes it when the test ends.
func openStore(t testing.TB, db *DB, tenant string, cfg eventstore.Config) *Store {
	t.Helper()
	s, err := db.Store(tenant, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newTenant returns a tenant name unique to this test run.
func newTenant(t testing.TB) string {
	return t.Name() + "/" + eventstore.NewID()
}

// ev returns an event of type typ with JSON data.
func ev(typ, data string) eventstore.Event {
	return eventstore.Event{Type: typ, Data: []byte(data)}
}
