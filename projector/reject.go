package projector

import (
	"context"
	"fmt"
	"time"

	"github.com/ferrysync/ferry/eventstore"
)

// ProjectRejected is called inside tx, the transaction that marks local
// events rejected by the hub (sync/client does it for the projectors in
// its Config.Projectors), with first, the lowest Position among them.
//
// A rejected event reaches no handler (see Gate), so a read model must end
// as if it had never been stored: what a Rebuild produces. When the
// projector's checkpoint, read inside tx, is below first, it has not
// handled the events and nothing is done (a batch it read before tx, which
// may hold stale copies of them, is read again before it commits). Otherwise
// ProjectRejected runs Options.Reset inside tx and moves the checkpoint
// back to 0, so the read model is empty when the rejection commits, and
// returns a function to call once tx has committed: it has Run (or the
// next CatchUp) replay the ledger without the rejected events. Without a
// Reset, it records a Failure naming the event at first (see Failures),
// since only a Rebuild can then drop what the read model holds of it.
//
// An error (from Reset) is returned as it is: the caller must roll tx
// back.
func (p *Projector) ProjectRejected(ctx context.Context, tx eventstore.Tx, first int64) (func(), error) {
	return p.resetFrom(ctx, tx, first, "reject", "event rejected by the hub after it was projected: Rebuild drops it")
}

// resetFrom makes the read model forget the events from first on, which
// tx removes from what it reads (rejected or evicted): when the projector
// has handled first, it runs Options.Reset and moves the checkpoint back to
// 0 in tx, or without a Reset records a Failure (handler what, error why).
// It returns the function to call once tx has committed.
func (p *Projector) resetFrom(ctx context.Context, tx eventstore.Tx, first int64, what, why string) (func(), error) {
	// Counted before the checkpoint is read: an apply that commits after tx
	// sees the new count and reads its batch again.
	p.rejections.Add(1)
	cp, err := eventstore.CheckpointsOf(tx).Checkpoint(ctx, p.name)
	if err != nil {
		return nil, fmt.Errorf("projector %s: checkpoint: %w", p.name, err)
	}
	if cp < first {
		return nil, nil
	}
	if p.opts.Reset == nil {
		p.log.Warn("events left the ledger after they were projected and there is no Reset: rebuild to drop them",
			"position", first, "why", what)
		f := Failure{Projector: p.name, Position: first, Handler: what, Error: why, At: time.Now().UTC()}
		return nil, p.recordFailure(ctx, tx, f)
	}
	if err := p.opts.Reset(ctx, tx); err != nil {
		return nil, fmt.Errorf("projector %s: reset after %s: %w", p.name, what, err)
	}
	if err := eventstore.CheckpointsOf(tx).SetCheckpoint(ctx, p.name, 0); err != nil {
		return nil, fmt.Errorf("projector %s: checkpoint: %w", p.name, err)
	}
	return func() {
		p.setPos(0)
		p.reloads.Add(1)
		p.wake()
	}, nil
}

// wait is store.Wait(ctx, after) that also returns (after, nil) once the
// reload count differs from reloads (a rejection reset the checkpoint).
func (p *Projector) wait(ctx context.Context, after, reloads int64) (int64, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.mu.Lock()
	p.cancelWait = cancel
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.cancelWait = nil
		p.mu.Unlock()
	}()
	if p.reloads.Load() != reloads { // reset before cancelWait was set
		return after, nil
	}
	head, err := p.store.Wait(wctx, after)
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		return after, nil // woken
	}
	return head, err
}

// wake interrupts Run's wait, if it is waiting.
func (p *Projector) wake() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancelWait != nil {
		p.cancelWait()
	}
}
