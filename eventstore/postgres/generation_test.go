package postgres

import (
	"context"
	"sync"
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

// TestGenerationRacesFirstAppend: a hub's handshake (Generation) that
// runs while the tenant's first append is in flight must return the
// generation, not fail. The CTE's SELECT reads the statement's snapshot,
// taken before the append committed, and its INSERT ... DO NOTHING returns
// no row once the append commits: the query yields no row.
func TestGenerationRacesFirstAppend(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, testSchema(t), Options{})
	fails := 0
	for i := 0; i < 50; i++ {
		tenant := newTenant(t)
		appender := openStore(t, db, tenant, eventstore.Config{})
		var wg sync.WaitGroup
		errs := make([]error, 4)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = appender.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{ev("t:x", `{}`)}})
		}()
		for j := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := openStore(t, db, tenant, eventstore.Config{})
				_, errs[j] = s.Generation(ctx)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				fails++
				t.Logf("tenant %d: %v", i, err)
			}
		}
	}
	if fails > 0 {
		t.Fatalf("%d Generation calls failed racing the tenant's creation", fails)
	}
}

// TestStreamPositionIndex: Options.StreamPositionIndex creates the index
// (once, whichever DB opens first), and ReadStreamAfter reads one stream
// after a position, in position order, on either side of it.
func TestStreamPositionIndex(t *testing.T) {
	ctx := context.Background()
	schema := testSchema(t)
	plain := openDB(t, schema, Options{})
	count := func() int {
		var n int
		require.NoError(t, plain.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = 'events_stream_position_idx'`, schema).Scan(&n))
		return n
	}
	require.Zero(t, count())
	db := openDB(t, schema, Options{StreamPositionIndex: true})
	openDB(t, schema, Options{StreamPositionIndex: true})
	require.Equal(t, 1, count())

	s := openStore(t, db, newTenant(t), eventstore.Config{})
	for i := range 6 {
		stream := []string{"a", "b"}[i%2]
		_, err := s.Append(ctx, eventstore.Write{Stream: stream, Events: []eventstore.Event{ev("t:x", `{}`)}})
		require.NoError(t, err)
	}
	var got []int64
	for e, err := range s.ReadStreamAfter(ctx, "a", 1, 0) {
		require.NoError(t, err)
		got = append(got, e.Position)
	}
	assert.Equal(t, []int64{3, 5}, got)
}
