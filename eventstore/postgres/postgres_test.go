package postgres

import (
	"testing"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/storetest"
)

// TestConformance runs the shared suite. Every subtest gets a fresh tenant
// of one DB (a tenant's store starts empty), and the tenant checks get two
// tenants of that DB. The DB keeps replica hub-position semantics
// (RecordHubPositions), which is what the suite checks; the hub default
// (HubPosition = Position) is covered by this package's own tests.
func TestConformance(t *testing.T) {
	db := openDB(t, testSchema(t), Options{RecordHubPositions: true})
	open := func(t *testing.T, cfg eventstore.Config) eventstore.Store {
		return openStore(t, db, newTenant(t), cfg)
	}
	storetest.Run(t, open, storetest.WithTenants(func(t *testing.T, cfg eventstore.Config) (a, b eventstore.Store) {
		return open(t, cfg), open(t, cfg)
	}))
}

// TestConformanceCopy runs the suite again with every batch stored through
// the COPY path (storeCopy), which otherwise only batches of copyThreshold
// events or more take. The large check already runs it at full size above.
func TestConformanceCopy(t *testing.T) {
	forceCopy(t)
	db := openDB(t, testSchema(t), Options{RecordHubPositions: true})
	open := func(t *testing.T, cfg eventstore.Config) eventstore.Store {
		return openStore(t, db, newTenant(t), cfg)
	}
	storetest.Run(t, open, storetest.WithLargeN(2000), storetest.WithTenants(func(t *testing.T, cfg eventstore.Config) (a, b eventstore.Store) {
		return open(t, cfg), open(t, cfg)
	}))
}

// forceCopy makes every batch take the COPY path until the test ends.
func forceCopy(t *testing.T) {
	old := copyThreshold
	copyThreshold = 1
	t.Cleanup(func() { copyThreshold = old })
}

// bothPaths runs f with the one-statement path and with the COPY path.
func bothPaths(t *testing.T, f func(t *testing.T)) {
	t.Run("Statement", f)
	t.Run("Copy", func(t *testing.T) {
		forceCopy(t)
		f(t)
	})
}
