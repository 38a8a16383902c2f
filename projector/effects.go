package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferrysync/ferry/eventstore"
)

// ErrNotAttached is returned by Effects methods called before Attach.
var ErrNotAttached = errors.New("projector: effects not attached to a store")

// EffectStatus is where an effect is in the outbox.
type EffectStatus string

// Effect statuses.
const (
	// EffectPending effects are waiting to run, or to be retried.
	EffectPending EffectStatus = "pending"
	// EffectFailed effects ran out of attempts; Retry or Discard them.
	EffectFailed EffectStatus = "failed"
	// EffectDone effects ran successfully.
	EffectDone EffectStatus = "done"
)

// EffectRecord is an effect as the outbox stores it. It is stored as JSON
// (see MarshalJSON).
type EffectRecord struct {
	// Status is derived from where the record is stored.
	Status  EffectStatus
	Handler string
	Event   eventstore.Event
	// Attempts counts the runs so far.
	Attempts  int
	LastError string
	// NextAttempt is when a pending effect is due (zero: now).
	NextAttempt time.Time
	Created     time.Time
	// Finished is when the effect succeeded or was parked as failed.
	Finished time.Time
}

// EffectOptions configures Effects.
type EffectOptions struct {
	// Retry bounds the attempts per effect and the backoff between them.
	Retry Backoff
	// DropDone deletes an effect's record when it succeeds instead of
	// keeping it with status done.
	DropDone bool
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// Effects is the outbox that runs Once handlers. Create it before the
// store, install Hook as the store's eventstore.Config.OnAppend, then
// Attach the store and start Run:
//
//	fx, err := projector.NewEffects(handlers, projector.EffectOptions{})
//	store := memory.New(eventstore.Config{OnAppend: fx.Hook})
//	fx.Attach(store)
//	go fx.Run(ctx)
type Effects struct {
	handlers *Handlers
	opts     EffectOptions
	log      *slog.Logger

	mu    sync.RWMutex
	store Store

	hookMax atomic.Int64 // highest position a hook recorded effects for
	wake    chan struct{}
	running atomic.Bool
}

// NewEffects returns an outbox for the Once handlers of h.
func NewEffects(h *Handlers, opts EffectOptions) (*Effects, error) {
	if h == nil {
		return nil, errors.New("projector: nil handlers")
	}
	if err := h.Err(); err != nil {
		return nil, err
	}
	opts.Retry = opts.Retry.withDefaults()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Effects{handlers: h, opts: opts, log: log.With("component", "effects"), wake: make(chan struct{}, 1)}, nil
}

// Hook is the store's OnAppend hook: inside the append's transaction it
// records a pending effect for every Once handler of every appended event
// that Gate lets Once handlers see (local, not outdated). The store calls
// it only for Append, never for Insert, so events that arrive through sync,
// and replays, record no effects.
func (fx *Effects) Hook(ctx context.Context, tx eventstore.Tx, events []eventstore.Event) error {
	var maxPos int64
	now := time.Now().UTC()
	for _, e := range events {
		if Gate(e)&KindOnce == 0 {
			continue
		}
		for _, name := range fx.handlers.EffectNames(e.Type) {
			rec := EffectRecord{Handler: name, Event: e, Created: now}
			val, err := json.Marshal(rec)
			if err != nil {
				return fmt.Errorf("effect %s of %s: %w", name, e.ID, err)
			}
			if err := eventstore.KeyValuesOf(tx).SetState(ctx, effectKey(EffectPending, e.ID, name), val); err != nil {
				return fmt.Errorf("effect %s of %s: %w", name, e.ID, err)
			}
			maxPos = max(maxPos, e.Position)
		}
	}
	for {
		cur := fx.hookMax.Load()
		if maxPos <= cur || fx.hookMax.CompareAndSwap(cur, maxPos) {
			return nil
		}
	}
}

// Attach binds the outbox to the store whose OnAppend is Hook. It must be
// called before Run and the listing methods.
func (fx *Effects) Attach(store Store) {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	fx.store = store
}

func (fx *Effects) attached() (Store, error) {
	fx.mu.RLock()
	defer fx.mu.RUnlock()
	if fx.store == nil {
		return nil, ErrNotAttached
	}
	return fx.store, nil
}

func (fx *Effects) poke() {
	select {
	case fx.wake <- struct{}{}:
	default:
	}
}

// Run executes pending effects until ctx is done (it then returns nil):
// first the ones left over from before (a crash between commit and effect),
// then each new one promptly after the append that recorded it commits.
// Failed runs are retried with backoff; after the last attempt the effect is
// parked as failed. Only one Run may be active at a time.
func (fx *Effects) Run(ctx context.Context) error {
	store, err := fx.attached()
	if err != nil {
		return err
	}
	if !fx.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer fx.running.Store(false)
	err = fx.loop(ctx, store)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (fx *Effects) loop(ctx context.Context, store Store) error {
	for {
		// Every effect recorded for a position <= listedAt was committed
		// before the listing, so the listing saw it.
		listedAt, err := store.Head(ctx)
		if err != nil {
			return fmt.Errorf("effects: head: %w", err)
		}
		next, _, err := fx.runDue(ctx, store)
		if err != nil {
			return err
		}
		head := listedAt
		for {
			woken, h, err := fx.wait(ctx, store, head, next)
			if err != nil {
				return err
			}
			head = max(head, h)
			if woken || fx.hookMax.Load() > listedAt {
				break
			}
		}
	}
}

// wait blocks until the ledger grows past head (returns false and the new
// head), or until next (if set) or a poke (returns true).
func (fx *Effects) wait(ctx context.Context, store Store, head int64, next time.Time) (bool, int64, error) {
	wctx, cancel := context.WithCancel(ctx)
	if !next.IsZero() {
		wctx, cancel = context.WithDeadline(ctx, next)
	}
	defer cancel()
	poked, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-fx.wake:
			close(poked)
			cancel()
		case <-wctx.Done():
		}
	}()
	h, err := store.Wait(wctx, head)
	cancel()
	<-exited
	woken := false
	select {
	case <-poked:
		woken = true
	default:
	}
	switch {
	case err == nil:
		return woken, h, nil
	case ctx.Err() != nil:
		return false, head, ctx.Err()
	case wctx.Err() != nil: // deadline or poke
		return true, head, nil
	}
	return false, head, fmt.Errorf("effects: wait: %w", err)
}

// RunDue runs, once each, the pending effects that are due now, and returns
// how many ran (successfully or not). Run does this continuously; RunDue is
// for tools and tests.
func (fx *Effects) RunDue(ctx context.Context) (int, error) {
	store, err := fx.attached()
	if err != nil {
		return 0, err
	}
	_, n, err := fx.runDue(ctx, store)
	return n, err
}

// runDue runs the due pending effects and returns when the earliest
// not-yet-due one is due (zero if none) and how many ran.
func (fx *Effects) runDue(ctx context.Context, store Store) (time.Time, int, error) {
	recs, err := fx.list(ctx, store, EffectPending)
	if err != nil {
		return time.Time{}, 0, err
	}
	var next time.Time
	ran := 0
	for _, rec := range recs {
		now := time.Now()
		if rec.NextAttempt.After(now) {
			if next.IsZero() || rec.NextAttempt.Before(next) {
				next = rec.NextAttempt
			}
			continue
		}
		again, err := fx.runOne(ctx, store, rec)
		if err != nil {
			return time.Time{}, ran, err
		}
		ran++
		if !again.IsZero() && (next.IsZero() || again.Before(next)) {
			next = again
		}
	}
	return next, ran, nil
}

// runOne runs one effect and records the outcome. It returns when the
// effect is due again if it failed and stays pending.
func (fx *Effects) runOne(ctx context.Context, store Store, rec EffectRecord) (time.Time, error) {
	id := rec.Event.ID
	fn := fx.handlers.effect(rec.Event.Type, rec.Handler)
	var runErr error
	if fn == nil {
		runErr = fmt.Errorf("no once handler %q registered for %s", rec.Handler, rec.Event.Type)
	} else {
		eff := Effect{Key: id, Handler: rec.Handler, Event: rec.Event, Attempt: rec.Attempts + 1}
		runErr = callEffect(ctx, fn, eff)
		if runErr != nil && ctx.Err() != nil {
			return time.Time{}, ctx.Err() // shutting down: not the effect's fault
		}
	}
	rec.Attempts++
	now := time.Now().UTC()
	var again time.Time
	status := EffectDone
	switch {
	case runErr == nil:
		rec.LastError, rec.NextAttempt, rec.Finished = "", time.Time{}, now
	case rec.Attempts >= fx.opts.Retry.Attempts || fn == nil:
		status = EffectFailed
		rec.LastError, rec.NextAttempt, rec.Finished = runErr.Error(), time.Time{}, now
		fx.log.Error("effect failed, parked", "event", id, "handler", rec.Handler, "attempts", rec.Attempts, "error", runErr)
	default:
		status = EffectPending
		again = now.Add(fx.opts.Retry.Delay(rec.Attempts))
		rec.LastError, rec.NextAttempt = runErr.Error(), again
		fx.log.Warn("effect failed, will retry", "event", id, "handler", rec.Handler, "attempt", rec.Attempts, "at", again, "error", runErr)
	}
	val, err := json.Marshal(rec)
	if err != nil {
		return time.Time{}, err
	}
	pending := effectKey(EffectPending, id, rec.Handler)
	// The effect has run: record that even when shutdown has begun, so
	// that it is not run again needlessly.
	ctx = context.WithoutCancel(ctx)
	err = store.Update(ctx, func(tx eventstore.Tx) error {
		if _, err := eventstore.KeyValuesOf(tx).State(ctx, pending); errors.Is(err, eventstore.ErrNotFound) {
			return nil // discarded meanwhile
		} else if err != nil {
			return err
		}
		if status == EffectPending {
			return eventstore.KeyValuesOf(tx).SetState(ctx, pending, val)
		}
		if err := eventstore.KeyValuesOf(tx).DeleteState(ctx, pending); err != nil {
			return err
		}
		if status == EffectDone && fx.opts.DropDone {
			return nil
		}
		return eventstore.KeyValuesOf(tx).SetState(ctx, effectKey(status, id, rec.Handler), val)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("effects: record %s of %s: %w", rec.Handler, id, err)
	}
	return again, nil
}
