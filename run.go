package ferry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
)

// Run runs the app until ctx ends: the projections follow the ledger, the
// effects outbox runs side effects as their events commit, and the
// replicator (with a hub) stays in sync, reconnecting with backoff. Writes
// never wait for the network. Run returns nil when ctx ends, or the first
// error that stops a part (a projection's handler error, a closed store),
// after stopping the others. Only one Run may be active at a time.
func (a *App) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	done := make(chan struct{})
	a.runDone.Store(&done)
	defer func() {
		a.running.Store(false)
		close(done)
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	parts := []func(context.Context) error{a.effects.Run}
	for _, p := range a.projectors {
		parts = append(parts, p.Run)
	}
	if a.replicator != nil {
		parts = append(parts, a.replicator.Run)
	}
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, run := range parts {
		wg.Go(func() {
			err := run(ctx)
			if err != nil && ctx.Err() == nil {
				once.Do(func() { first = err })
				cancel()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return fmt.Errorf("ferry: run: %w", first)
	}
	return nil
}

// SyncResult is what one Sync did.
type SyncResult struct {
	// Pushed counts local events the hub accepted.
	Pushed int
	// Pulled counts events received from the hub; Inserted those new to
	// this device.
	Pulled, Inserted int
	// Backfilled counts events stored by backfilling new subscriptions
	// (App.Subscribe).
	Backfilled int
	// Evicted counts events evicted because their streams left the
	// subscriptions (SyncOptions.Evict).
	Evicted int
	// Relayed counts other devices' events this device pushed back to a
	// hub that had lost them (restored from a backup).
	Relayed int
	// Cursor is the hub position this device has applied; Head is the
	// hub's head as last known.
	Cursor, Head int64
	// Rejections lists the local events the hub refused during this sync.
	// They are not an error: they are marked rejected, never pushed again,
	// and gone from every read model.
	Rejections []client.Rejection
	// Effects counts the side effects run.
	Effects int
	// Repair describes the repair this sync made when this device's copy
	// of the hub's ledger differed from the hub's (nil: none was needed).
	// The read models that held a changed event were rebuilt.
	Repair *client.Repair
}

// Sync is a one-shot sync for CLIs and tests: it pushes every local event,
// pulls until caught up, then catches the read models up and runs the
// side effects that are due (CatchUp), and returns what it did. Rejected
// events are listed in the result, not returned as an error. When the hub
// cannot be reached the local work is still settled, and the error
// unwraps to client.ErrUnreachable (or client.ErrUnauthorized, ...).
// Without Options.Sync.URL it returns ErrNoHub.
func (a *App) Sync(ctx context.Context) (SyncResult, error) {
	if a.replicator == nil {
		return SyncResult{}, ErrNoHub
	}
	st, err := a.replicator.SyncOnce(ctx)
	res := SyncResult{Pushed: st.Pushed, Pulled: st.Pulled, Inserted: st.Inserted, Backfilled: st.Backfilled, Evicted: st.Evicted, Relayed: st.Relayed,
		Cursor: st.Cursor, Head: st.Head, Rejections: st.Rejections, Repair: st.Repair}
	n, cerr := a.catchUp(ctx)
	res.Effects = n
	return res, errors.Join(err, cerr) // err is already prefixed by the client
}

// CatchUp brings every read model up to the ledger's head and runs the
// side effects that are due: what a one-shot command calls before it
// exits when it does not Sync. Run does it continuously.
func (a *App) CatchUp(ctx context.Context) error {
	_, err := a.catchUp(ctx)
	return err
}

func (a *App) catchUp(ctx context.Context) (int, error) {
	for _, p := range a.projectors {
		if _, err := p.CatchUp(ctx); err != nil {
			return 0, fmt.Errorf("ferry: projection %s: %w", p.Name(), err)
		}
	}
	n, err := a.effects.RunDue(ctx)
	if err != nil {
		return n, fmt.Errorf("ferry: effects: %w", err)
	}
	return n, nil
}

// Read runs fn in a read-only transaction over the app's database, for
// reading read models. The read models first take in every event committed
// before the call (read-your-writes): while Run runs, Read waits for its
// projections; otherwise it catches them up itself. A write through tx
// fails.
func (a *App) Read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if done := a.runDone.Load(); a.running.Load() && done != nil {
		err := a.waitRunning(ctx, *done)
		if err == nil {
			return a.store.View(ctx, fn)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("ferry: read: %w", err)
		}
		// Run stopped before its projections reached the head: catch up
		// here instead of waiting for progress that will not come.
	}
	for _, p := range a.projectors {
		if _, err := p.CatchUp(ctx); err != nil {
			return fmt.Errorf("ferry: projection %s: %w", p.Name(), err)
		}
	}
	return a.store.View(ctx, fn)
}

// waitRunning waits until the running projections have committed the
// ledger's head as it is now, or until ctx ends, or Run returns (done).
func (a *App) waitRunning(ctx context.Context, done <-chan struct{}) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	head, err := a.store.Head(ctx)
	if err != nil {
		return err
	}
	for _, p := range a.projectors {
		if err := waitStored(ctx, a.store, p, head); err != nil {
			return err
		}
	}
	return nil
}

// Rebuild empties every read model (Projection.Reset) and replays the
// whole ledger into it. Side effects never run again.
func (a *App) Rebuild(ctx context.Context) error {
	for _, p := range a.projectors {
		if _, err := p.Rebuild(ctx, nil); err != nil {
			return fmt.Errorf("ferry: rebuild %s: %w", p.Name(), err)
		}
	}
	return nil
}

// waitStored waits until the running projector p has committed head, as
// its stored checkpoint shows: a rejection resets the checkpoint in its
// own transaction, a moment before p learns of it. An eviction of the
// ledger's last events leaves head above every event stored (positions
// are never given again): the projector then ends at the last event
// before head, and waiting for it to reach head would never end, so it
// waits for the next event stored after its checkpoint, and is done when
// none is left up to head.
func waitStored(ctx context.Context, store eventstore.Store, p *projector.Projector, head int64) error {
	for {
		cp, err := p.Position(ctx)
		if err != nil || cp >= head {
			return err
		}
		var next int64
		for e, err := range store.ReadAll(ctx, cp, 1) {
			if err != nil {
				return err
			}
			next = e.Position
		}
		if next == 0 || next > head {
			return nil // the events between cp and head were evicted
		}
		if err := p.WaitFor(ctx, next); err != nil {
			return err
		}
		if cp, err = p.Position(ctx); err != nil || cp >= next {
			if err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}
