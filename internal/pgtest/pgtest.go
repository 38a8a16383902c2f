// Package pgtest gates and isolates the PostgreSQL tests of every Ferry
// package: one place decides whether they run, skip or fail, and gives each
// test a throwaway schema. It is imported by tests only.
//
// FERRY_TEST_POSTGRES_URL names the server (scripts/test.sh starts a
// throwaway cluster and sets it). Without it the tests skip with one line,
// unless FERRY_REQUIRE_POSTGRES=1 (as CI sets), which makes them fail.
package pgtest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ferrysync/ferry/eventstore"
)

// Environment variables that gate the PostgreSQL tests.
const (
	// EnvURL holds the URL of a PostgreSQL server to test against.
	EnvURL = "FERRY_TEST_POSTGRES_URL"
	// EnvRequire set to "1" turns a missing EnvURL from a skip into a
	// failure.
	EnvRequire = "FERRY_REQUIRE_POSTGRES"
)

// URL returns the test server's URL, or skips t when none is configured
// (fails it when EnvRequire is "1").
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s not set and %s=1", EnvURL, EnvRequire)
		}
		t.Skipf("%s not set: skipping PostgreSQL tests", EnvURL)
	}
	return url
}

// Schema returns a new schema name (prefix plus a ULID) on the test server
// and drops it, with everything in it, when t ends. Register it before
// opening anything on it, so cleanups close those first.
func Schema(t testing.TB, prefix string) string {
	t.Helper()
	url := URL(t)
	schema := prefix + strings.ToLower(eventstore.NewID())
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
