package tenants_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore/postgres"
	"github.com/ferrysync/ferry/internal/pgtest"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/hub/ledgertest"
	"github.com/ferrysync/ferry/sync/hub/tenants"
)

// lease acquires tenant's ledger from p until t ends.
func lease(t *testing.T, p *tenants.Pool, tenant string) hub.Ledger {
	t.Helper()
	l, release, err := p.Acquire(context.Background(), tenant)
	require.NoError(t, err)
	t.Cleanup(release)
	return l
}

// The embedded hub's ledgers: one SQLite file per tenant, from the pool.
func TestLedgerSQLite(t *testing.T) {
	pool := func(t *testing.T) *tenants.Pool {
		p, err := tenants.SQLite(t.TempDir(), tenants.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, p.Close()) })
		return p
	}
	ledgertest.Run(t, func(t *testing.T) hub.Ledger { return lease(t, pool(t), "acme") })
	ledgertest.RunTenants(t, func(t *testing.T) (a, b hub.Ledger) {
		p := pool(t)
		return lease(t, p, "acme"), lease(t, p, "other")
	})
}

// postgresPool returns a pool over a DB on schema, closed when t ends.
func postgresPool(t *testing.T, schema string) *tenants.Pool {
	t.Helper()
	db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{Schema: schema, MaxConns: 8})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	p := tenants.Postgres(db, tenants.Options{})
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

// The PostgreSQL hub's ledgers, on one node and across two nodes (two DB
// handles on one schema, as two syncd processes).
func TestLedgerPostgres(t *testing.T) {
	pgtest.URL(t)
	ledgertest.Run(t, func(t *testing.T) hub.Ledger {
		return lease(t, postgresPool(t, pgtest.Schema(t, "ferry_ledger_test_")), "acme")
	})
	ledgertest.RunTenants(t, func(t *testing.T) (a, b hub.Ledger) {
		p := postgresPool(t, pgtest.Schema(t, "ferry_ledger_test_"))
		return lease(t, p, "acme"), lease(t, p, "other")
	})
	ledgertest.RunNodes(t, func(t *testing.T) (a, b hub.Ledger) {
		schema := pgtest.Schema(t, "ferry_ledger_test_")
		return lease(t, postgresPool(t, schema), "acme"), lease(t, postgresPool(t, schema), "acme")
	})
}
