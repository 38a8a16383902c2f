package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// View reads what Update committed, and refuses writes.
func TestView(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	require.NoError(t, s.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.(*Tx).SQL().ExecContext(ctx, `CREATE TABLE rm (k TEXT PRIMARY KEY, v INTEGER); INSERT INTO rm VALUES ('a', 1)`)
		return err
	}))
	var v int
	require.NoError(t, s.View(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT v FROM rm WHERE k = 'a'`).Scan(&v)
	}))
	assert.Equal(t, 1, v)
	err := s.View(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO rm VALUES ('b', 2)`)
		return err
	})
	assert.Error(t, err, "a view is read-only")
	require.NoError(t, s.Close())
	assert.ErrorIs(t, s.View(ctx, func(*sql.Tx) error { return nil }), eventstore.ErrClosed)
}
