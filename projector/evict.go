package projector

import (
	"context"

	"github.com/ferrysync/ferry/eventstore"
)

// ProjectEvicted is called inside tx, the transaction that evicts whole
// streams from the store (eventstore.Evicter; sync/client does it for the
// projectors in its Config.Projectors when Config.Evict is set), with
// first, the lowest Position among the events removed.
//
// The read model must end as if the streams had never been stored: what a
// Rebuild of the store as it now is produces. With a Reset, as
// ProjectRejected does: when the projector has handled first, it runs
// Options.Reset inside tx and moves the checkpoint back to 0, and the
// function it returns (to call once tx has committed) has Run, or the next
// CatchUp, replay the ledger, which no longer holds the streams. Evictions
// follow an app's choice to stop holding streams, so the replay's cost is
// paid rarely. Without a Reset it leaves the read model alone: the app
// deletes the streams' rows itself, in the same transaction (sync/client's
// Config.OnEvict), which is cheaper for a read model keyed by stream, or
// rebuilds. Either way a batch the projector read before tx is read again
// before it is handled, so no row of an evicted stream comes back.
//
// An error (from Reset) is returned as it is: the caller must roll tx
// back.
func (p *Projector) ProjectEvicted(ctx context.Context, tx eventstore.Tx, first int64) (func(), error) {
	if p.opts.Reset == nil {
		// A batch read before tx, holding the streams' events, is read
		// again rather than handled after OnEvict cleared their rows.
		p.rejections.Add(1)
		return nil, nil
	}
	return p.resetFrom(ctx, tx, first, "evict", "")
}
