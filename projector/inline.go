package projector

import (
	"context"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
)

// ProjectInserted handles events inside tx, the transaction that has just
// inserted them (a sync client's pull: see sync/client's Config.Projectors),
// so that the read model commits with the events instead of being caught up
// afterwards from the ledger.
//
// events must be as tx stored them, in Position order: Position, Hydrated and
// Outdated set. The projector takes them only when they follow its
// checkpoint without a gap (the checkpoint, read inside tx, is the position
// just before the first of them). It then runs the On and All handlers over
// them, Options.BatchSize events per DispatchBatch call, moves the
// checkpoint to the last of them, and returns a function to call once tx
// has committed (it updates the position that WaitFor and Progress report).
// Otherwise it does nothing and returns nil, nil: the projector's own Run
// reaches the events from the ledger.
//
// Handlers run before tx commits: the store's Reader methods (its read
// connections) do not see the events yet; read them through tx. Handlers
// get their own copies, and ProjectInserted neither modifies nor keeps
// events.
//
// A handler error is returned as it is and leaves tx holding whatever the
// handlers wrote: the caller must roll tx back. The Options.OnError policy
// does not apply here; it applies when Run meets the events again.
func (p *Projector) ProjectInserted(ctx context.Context, tx eventstore.Tx, events []eventstore.Event) (func(), error) {
	if len(events) == 0 {
		return nil, nil
	}
	first := events[0].Position
	for i := range events {
		if events[i].Position != first+int64(i) {
			return nil, nil
		}
	}
	_, resets := p.current()
	cp, err := eventstore.CheckpointsOf(tx).Checkpoint(ctx, p.name)
	if err != nil {
		return nil, fmt.Errorf("projector %s: checkpoint: %w", p.name, err)
	}
	if cp != first-1 {
		return nil, nil
	}
	last := events[len(events)-1].Position
	for rest := events; len(rest) > 0; {
		n := min(len(rest), p.opts.BatchSize)
		if err := p.opts.Handlers.DispatchBatch(ctx, tx, rest[:n:n], KindOn|KindAll); err != nil {
			return nil, err
		}
		if err := p.unknown(ctx, tx, rest[:n:n]); err != nil {
			return nil, err
		}
		rest = rest[n:]
	}
	if err := eventstore.CheckpointsOf(tx).SetCheckpoint(ctx, p.name, last); err != nil {
		return nil, fmt.Errorf("projector %s: checkpoint: %w", p.name, err)
	}
	return func() {
		if p.advance(last, resets) {
			p.report(last, last, false)
		}
	}, nil
}
