package postgres

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

func TestMigrateReopen(t *testing.T) {
	ctx := context.Background()
	schema := testSchema(t)
	db := openDB(t, schema, Options{})
	s := openStore(t, db, "acme", eventstore.Config{})
	_, err := s.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{ev("t", `{}`)}})
	require.NoError(t, err)
	db.Close()

	db = openDB(t, schema, Options{})
	var versions []int
	rows, err := db.Pool().Query(ctx, db.q(`SELECT version FROM {s}.schema_migrations ORDER BY version`))
	require.NoError(t, err)
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		versions = append(versions, v)
	}
	require.NoError(t, rows.Err())
	want := make([]int, len(migrations))
	for i := range want {
		want[i] = i + 1
	}
	assert.Equal(t, want, versions, "each step is recorded once")

	s = openStore(t, db, "acme", eventstore.Config{})
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), head, "data survives a re-open")
}

func TestMigrateConcurrentOpen(t *testing.T) {
	schema := testSchema(t)
	url := testURL(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			db, err := Open(context.Background(), url, Options{Schema: schema, MaxConns: 2})
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
}

func TestMigrateNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	schema := testSchema(t)
	db := openDB(t, schema, Options{})
	_, err := db.Pool().Exec(ctx, db.q(`INSERT INTO {s}.schema_migrations (version) VALUES ($1)`), len(migrations)+1)
	require.NoError(t, err)

	_, err = Open(ctx, testURL(t), Options{Schema: schema})
	require.ErrorIs(t, err, eventstore.ErrIncompatibleSchema)
	assert.Contains(t, err.Error(), "version")
}

func TestMigrateForeignSchemaRefused(t *testing.T) {
	ctx := context.Background()
	schema := testSchema(t)
	db := openDB(t, "ferry_test_other_"+eventstore.NewID(), Options{}) // any connection will do
	t.Cleanup(func() { _, _ = db.Pool().Exec(ctx, "DROP SCHEMA "+quoteIdent(db.Schema())+" CASCADE") })
	_, err := db.Pool().Exec(ctx, "CREATE SCHEMA "+quoteIdent(schema)+"; CREATE TABLE "+quoteIdent(schema)+".events (x int)")
	require.NoError(t, err)

	_, err = Open(ctx, testURL(t), Options{Schema: schema})
	require.ErrorIs(t, err, eventstore.ErrIncompatibleSchema)
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	_, err := Open(ctx, "postgres://%zz", Options{})
	require.Error(t, err)

	db := openDB(t, testSchema(t), Options{})
	for _, tenant := range []string{"", string(make([]byte, MaxTenantLen+1)), "a\x00b", "\xff"} {
		_, err := db.Store(tenant, eventstore.Config{})
		assert.Error(t, err, "tenant %q", tenant)
	}
	s := openStore(t, db, "ok", eventstore.Config{})
	require.NoError(t, s.Close())
	_, err = s.Head(ctx)
	require.ErrorIs(t, err, eventstore.ErrClosed)
	_, err = s.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{ev("t", `{}`)}})
	require.ErrorIs(t, err, eventstore.ErrClosed)

	s2 := openStore(t, db, "ok", eventstore.Config{})
	db.Close()
	for _, err := range s2.ReadAll(ctx, 0, 0) {
		require.ErrorIs(t, err, eventstore.ErrClosed)
	}
	_, err = db.Store("again", eventstore.Config{})
	require.ErrorIs(t, err, eventstore.ErrClosed)
}

// TestMigrateUpgradesVersion1 opens a schema written by the first version
// (no rejected column) with this build: the events survive and read as
// not rejected.
func TestMigrateUpgradesVersion1(t *testing.T) {
	ctx := context.Background()
	schema := testSchema(t)
	all := migrations
	migrations = all[:1]
	t.Cleanup(func() { migrations = all })
	db := openDB(t, schema, Options{RecordHubPositions: true})
	s := openStore(t, db, "acme", eventstore.Config{})
	evs, err := s.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{ev("t", `{}`), ev("t", `{}`)}})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	db.Close()

	migrations = all
	db = openDB(t, schema, Options{RecordHubPositions: true})
	s = openStore(t, db, "acme", eventstore.Config{})
	got := collect(t, s.ReadStream(ctx, "s", eventstore.ReadOptions{}))
	require.Len(t, got, 2)
	assert.False(t, got[1].Rejected)
	assert.Equal(t, evs[1].ID, got[1].ID)
	v, err := s.StreamVersion(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, int64(2), v)
}
