package hub

import (
	"context"
	"iter"

	"github.com/ferrysync/ferry/eventstore"
)

// Ledger is what the hub needs of a tenant's store: the methods it calls,
// and no others. Every eventstore.Store is a Ledger.
type Ledger interface {
	// Insert stores remote events idempotently by id (see
	// eventstore.Store.Insert).
	Insert(ctx context.Context, events ...eventstore.Event) ([]eventstore.InsertResult, error)
	// ReadAll reads the ledger after a position (see
	// eventstore.Reader.ReadAll).
	ReadAll(ctx context.Context, after int64, limit int) iter.Seq2[eventstore.Event, error]
	// Wait blocks until the ledger's head passes after (see
	// eventstore.Reader.Wait).
	Wait(ctx context.Context, after int64) (int64, error)
	// Head returns the ledger's highest position (see
	// eventstore.Reader.Head).
	Head(ctx context.Context) (int64, error)
}

var _ Ledger = eventstore.Store(nil)

// Ledgers hands the Server the ledgers of its tenants. Acquire returns
// tenant's ledger and a release function the Server calls exactly once,
// when it no longer uses the ledger: when the connection that acquired it
// has ended, its writes and its reads included. Between the two the
// ledger must stay open; after the last release an implementation may
// close it (see sync/hub/tenants, a pool that does). Acquire is called
// once per connection, with the tenant named by the verified token.
type Ledgers interface {
	Acquire(ctx context.Context, tenant string) (l Ledger, release func(), err error)
}

// LedgerFunc adapts a function to Ledgers, for ledgers that stay open
// while the Server runs (the caller closes them): its release does
// nothing.
type LedgerFunc func(ctx context.Context, tenant string) (Ledger, error)

// Acquire implements Ledgers.
func (f LedgerFunc) Acquire(ctx context.Context, tenant string) (Ledger, func(), error) {
	l, err := f(ctx, tenant)
	if err != nil {
		return nil, nil, err
	}
	return l, func() {}, nil
}
