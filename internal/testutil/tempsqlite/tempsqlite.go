// Package tempsqlite opens SQLite stores for tests: in a test's temporary
// directory or at a given path, closed when the test ends. It is for tests
// only, and apart from internal/testutil because it imports the SQLite
// backend (whose own in-package tests therefore cannot use it).
package tempsqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
)

// Open opens a fresh store with cfg in a file of t.TempDir().
func Open(t testing.TB, cfg eventstore.Config) *sqlite.Store {
	t.Helper()
	return OpenAt(t, filepath.Join(t.TempDir(), "ferry.db"), cfg)
}

// OpenAt opens the store at path with cfg.
func OpenAt(t testing.TB, path string, cfg eventstore.Config) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{Config: cfg})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}
