package postgres

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// TestGeneration: a tenant's generation is created with its row (by an
// append or by Generation itself), is the same through every Store and
// DB, differs between tenants, and is new in a new schema.
func TestGeneration(t *testing.T) {
	ctx := context.Background()
	schema := testSchema(t)
	db := openDB(t, schema, Options{})
	tenant := newTenant(t)

	s := openStore(t, db, tenant, eventstore.Config{})
	gen, err := s.Generation(ctx) // before any append: creates the row
	require.NoError(t, err)
	require.NotEmpty(t, gen)
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Zero(t, head, "creating the row appends nothing")
	_, err = s.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{ev("t:x", `{}`)}})
	require.NoError(t, err)

	other := openStore(t, openDB(t, schema, Options{}), tenant, eventstore.Config{})
	g2, err := other.Generation(ctx)
	require.NoError(t, err)
	assert.Equal(t, gen, g2, "one tenant, one generation, whichever process asks")

	appended := openStore(t, db, newTenant(t), eventstore.Config{})
	_, err = appended.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{ev("t:x", `{}`)}})
	require.NoError(t, err)
	g3, err := appended.Generation(ctx) // the row the append created
	require.NoError(t, err)
	assert.NotEmpty(t, g3)
	assert.NotEqual(t, gen, g3)

	fresh := openStore(t, openDB(t, testSchema(t), Options{}), tenant, eventstore.Config{})
	g4, err := fresh.Generation(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, gen, g4, "the same tenant in another database is another ledger")

	require.NoError(t, s.Close())
	_, err = s.Generation(ctx)
	assert.ErrorIs(t, err, eventstore.ErrClosed)
}
