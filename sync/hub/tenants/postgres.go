package tenants

import (
	"context"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/postgres"
)

// Postgres returns a pool of the tenants' stores in db. They are cheap
// (they share db's connections), but each is registered with db until
// closed, so they are pooled like SQLite files.
func Postgres(db *postgres.DB, opts Options) *Pool {
	return New(func(_ context.Context, tenant string) (Store, error) {
		return db.Store(tenant, opts.config(eventstore.Config{}))
	}, opts)
}
