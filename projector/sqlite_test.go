package projector_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/projector"
)

// TestSQLReadModelAtomicity projects into a SQL table next to the events:
// a handler that fails after writing its row rolls back the row and the
// checkpoint together, and the event stays.
func TestSQLReadModelAtomicity(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rm.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	require.NoError(t, store.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx, `CREATE TABLE titles (stream TEXT PRIMARY KEY, title TEXT NOT NULL)`)
		return err
	}))

	h := projector.NewHandlers()
	projector.On(h, "task:created", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d TaskCreated) error {
		if _, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx,
			`INSERT INTO titles (stream, title) VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET title = excluded.title`, e.Stream, d.Title); err != nil {
			return err
		}
		if d.Title == "poison" {
			return errors.New("poisoned")
		}
		return nil
	})
	p, err := projector.New("titles", store, projector.Options{Handlers: h})
	require.NoError(t, err)

	for _, title := range []string{"one", "two", "poison"} {
		_, err := store.Append(ctx, eventstore.Write{Stream: title, Events: []eventstore.Event{
			{Type: "task:created", Data: []byte(`{"title":"` + title + `"}`)}}})
		require.NoError(t, err)
	}
	_, err = p.CatchUp(ctx)
	require.ErrorContains(t, err, "poisoned")

	cp, err := p.Position(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), cp)
	var rows int
	require.NoError(t, store.Update(ctx, func(tx eventstore.Tx) error {
		return tx.(eventstore.SQLTx).SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM titles`).Scan(&rows)
	}))
	assert.Equal(t, 2, rows, "the poisoned event's row rolled back with its checkpoint")
	head, err := store.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), head)
}
