package synctest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ferrysync/ferry/eventstore"
)

// Environment variables gating the PostgreSQL tests, as in
// eventstore/postgres.
const (
	// EnvPostgresURL holds the URL of a PostgreSQL server to test against.
	EnvPostgresURL = "FERRY_TEST_POSTGRES_URL"
	// EnvRequirePostgres set to "1" turns a missing EnvPostgresURL from a
	// skip into a failure.
	EnvRequirePostgres = "FERRY_REQUIRE_POSTGRES"
)

// PostgresURL returns the test server's URL, or skips t when none is
// configured (fails it when EnvRequirePostgres is "1").
func PostgresURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvPostgresURL)
	if url == "" {
		if os.Getenv(EnvRequirePostgres) == "1" {
			t.Fatalf("%s not set and %s=1", EnvPostgresURL, EnvRequirePostgres)
		}
		t.Skipf("%s not set: skipping PostgreSQL tests", EnvPostgresURL)
	}
	return url
}

// FreshSchema returns a new schema name on the test server, dropped with
// everything in it when t ends.
func FreshSchema(t testing.TB) string {
	t.Helper()
	url := PostgresURL(t)
	schema := "ferry_e2e_" + strings.ToLower(eventstore.NewID())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer func() { _ = conn.Close(ctx) }()
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}
