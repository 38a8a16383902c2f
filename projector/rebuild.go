package projector

import (
	"context"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
)

// ResetFunc clears a read model inside tx (for example DELETE FROM its
// tables through eventstore.SQLTx), so that it can be rebuilt.
type ResetFunc func(ctx context.Context, tx eventstore.Tx) error

// Rebuild resets the projector: in one transaction it runs reset (nil:
// Options.Reset, which may be nil too), sets the checkpoint to 0 and forgets recorded failures; then
// it replays the whole ledger, up to the head as it is when the replay
// starts, with every event's Hydrated flag forced true (Outdated is the
// stored flag), and returns the position reached. A rebuild never runs Once
// handlers. A Run of the same projector may continue meanwhile: both check
// the stored checkpoint in each transaction, so no event is applied twice.
func (p *Projector) Rebuild(ctx context.Context, reset ResetFunc) (int64, error) {
	failures, err := p.store.ListState(ctx, failurePrefix(p.name))
	if err != nil {
		return 0, fmt.Errorf("projector %s: rebuild: %w", p.name, err)
	}
	if reset == nil {
		reset = p.opts.Reset
	}
	err = p.store.Update(ctx, func(tx eventstore.Tx) error {
		if reset != nil {
			if err := reset(ctx, tx); err != nil {
				return fmt.Errorf("reset: %w", err)
			}
		}
		for _, kv := range failures {
			if err := eventstore.KeyValuesOf(tx).DeleteState(ctx, kv.Key); err != nil {
				return err
			}
		}
		return eventstore.CheckpointsOf(tx).SetCheckpoint(ctx, p.name, 0)
	})
	if err != nil {
		return 0, fmt.Errorf("projector %s: rebuild: %w", p.name, err)
	}
	p.setPos(0)
	head, err := p.store.Head(ctx)
	if err != nil {
		return 0, fmt.Errorf("projector %s: rebuild: head: %w", p.name, err)
	}
	p.report(0, head, true)
	return p.replay(ctx, 0, head, true)
}
