package synctest

import (
	"testing"

	"github.com/ferrysync/ferry/internal/pgtest"
)

// Environment variables gating the PostgreSQL tests (see internal/pgtest).
const (
	// EnvPostgresURL holds the URL of a PostgreSQL server to test against.
	EnvPostgresURL = pgtest.EnvURL
	// EnvRequirePostgres set to "1" turns a missing EnvPostgresURL from a
	// skip into a failure.
	EnvRequirePostgres = pgtest.EnvRequire
)

// PostgresURL returns the test server's URL, or skips t when none is
// configured (fails it when EnvRequirePostgres is "1").
func PostgresURL(t testing.TB) string {
	t.Helper()
	return pgtest.URL(t)
}

// FreshSchema returns a new schema name on the test server, dropped with
// everything in it when t ends.
func FreshSchema(t testing.TB) string {
	t.Helper()
	return pgtest.Schema(t, "ferry_e2e_")
}
