package projector

import (
	"context"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
)

// revivedKey is the checkpoint of the revivals (eventstore.Reviver) a
// projector has replayed.
func revivedKey(name string) string { return name + "/revived" }

// catchUpRevived replays the events revived since the projector last
// looked (eventstore.Reviver): an upgraded app's store accepted events its
// older version kept Unknown, which the projector skipped when it passed
// them (Gate). Those at or before the checkpoint are handed to the On and
// All handlers as a replay (Hydrated, so never Once) in revival order;
// those after it are still ahead and are projected in Position order like
// any other. The revivals checkpoint moves in the same transaction. It
// runs before every step, so a revived event is projected exactly once
// whether the projector had passed it or not. A handler error stops it
// (the revivals checkpoint stays), whatever OnError says.
func (p *Projector) catchUpRevived(ctx context.Context) error {
	rv, ok := p.store.(eventstore.Reviver)
	if !ok {
		return nil
	}
	mark := rv.Revived()
	if mark <= p.revivedSeen.Load() {
		return nil // nothing revived since the last look: no query
	}
	key := revivedKey(p.name)
	for {
		after, err := p.store.Checkpoint(ctx, key)
		if err != nil {
			return fmt.Errorf("projector %s: revivals checkpoint: %w", p.name, err)
		}
		var batch []eventstore.Event
		for e, err := range rv.ReadRevived(ctx, after, p.opts.BatchSize) {
			if err != nil {
				return fmt.Errorf("projector %s: read revived: %w", p.name, err)
			}
			batch = append(batch, e)
		}
		if len(batch) == 0 {
			p.noteRevived(mark)
			return nil
		}
		err = p.store.Update(ctx, func(tx eventstore.Tx) error {
			cps := eventstore.CheckpointsOf(tx)
			if cur, err := cps.Checkpoint(ctx, key); err != nil || cur != after {
				return err // another runner replayed them: read again
			}
			pos, err := cps.Checkpoint(ctx, p.name)
			if err != nil {
				return err
			}
			var passed []eventstore.Event
			for _, e := range batch {
				if e.Position <= pos {
					e.Hydrated = true
					passed = append(passed, e)
				}
			}
			if len(passed) > 0 {
				if err := p.opts.Handlers.DispatchBatch(ctx, tx, passed, KindOn|KindAll); err != nil {
					return err
				}
			}
			return cps.SetCheckpoint(ctx, key, batch[len(batch)-1].Revived)
		})
		if err != nil {
			return fmt.Errorf("projector %s: replay revived events: %w", p.name, err)
		}
	}
}

// noteRevived records that the projector has caught up with revival
// number n.
func (p *Projector) noteRevived(n int64) {
	for {
		cur := p.revivedSeen.Load()
		if n <= cur || p.revivedSeen.CompareAndSwap(cur, n) {
			return
		}
	}
}

// unknown runs Options.OnUnknown for the Unknown events of events.
func (p *Projector) unknown(ctx context.Context, tx eventstore.Tx, events []eventstore.Event) error {
	if p.opts.OnUnknown == nil {
		return nil
	}
	for _, e := range events {
		if !e.Unknown {
			continue
		}
		if err := p.opts.OnUnknown(ctx, tx, e); err != nil {
			return &HandlerError{Kind: KindAll, Handler: "on-unknown", Event: e, Err: err}
		}
	}
	return nil
}
