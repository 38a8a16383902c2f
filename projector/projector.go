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

// ErrRunning is returned by Run when the projector is already running.
var ErrRunning = errors.New("projector: already running")

// DefaultBatchSize is the most events a projector handles in one
// transaction when Options.BatchSize is zero.
const DefaultBatchSize = 256

// Options configures a Projector.
type Options struct {
	// Handlers are the handlers to run. The projector runs their On and
	// All handlers; Once handlers belong to Effects.
	Handlers *Handlers
	// OnError is the error policy; the zero value is Stop.
	OnError ErrorPolicy
	// Retry bounds the Retry policy's attempts and backoff.
	Retry Backoff
	// BatchSize is the most events handled in one transaction (<= 0:
	// DefaultBatchSize). A projector takes what is available up to this
	// size, so a live projector still handles each new event at once.
	BatchSize int
	// Progress, when set, is called after every committed batch with the
	// events done and the ledger head, from the goroutine projecting (for
	// batches handled through ProjectInserted, the goroutine that
	// committed them); calls never overlap.
	Progress func(Progress)
	// Reset clears the read model inside tx, as Rebuild's reset does. A
	// rejection of a local event this projector has handled (see
	// ProjectRejected) runs it in the rejection's transaction and moves the
	// checkpoint back to 0, so the read model is rebuilt without the
	// event. Nil: the projector cannot drop a rejected event by itself; it
	// records a Failure naming it, and a Rebuild drops it. An eviction of
	// streams it has handled (see ProjectEvicted) resets it the same way.
	Reset ResetFunc
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// OnUnknown, when set, is called inside the batch's transaction for
	// every event the store kept Unknown (see eventstore.Event.Unknown)
	// that the projector passes: the handlers skip such events (Gate), and
	// OnUnknown lets a read model note them (say, "this note has changes
	// from a newer version"). An error is a handler error. The events are
	// replayed to the handlers once revived (see eventstore.Reviver).
	OnUnknown func(ctx context.Context, tx eventstore.Tx, e eventstore.Event) error
}

// Progress reports how far a projector is. Positions are gap-free, so Done
// and Total count events.
type Progress struct {
	Projector string
	// Done is the projector's checkpoint: the last position handled.
	Done int64
	// Total is the ledger's head as last seen.
	Total int64
	// Rebuild is true during Rebuild.
	Rebuild bool
}

// Projector is a named, durable subscription that runs On and All handlers
// over the ledger in Position order, committing each batch's handler writes
// and its checkpoint in one transaction.
type Projector struct {
	name    string
	store   Store
	opts    Options
	log     *slog.Logger
	running atomic.Bool

	mu      sync.Mutex
	pos     int64 // last committed position, -1 before the first load
	resets  int64 // how many times pos moved backwards (a Rebuild, another runner)
	changed chan struct{}

	reportMu sync.Mutex // serialises Options.Progress calls

	// rejections counts ProjectRejected and ProjectEvicted calls: a batch
	// read before one (whose events may since have been rejected or
	// evicted) is read again.
	rejections atomic.Int64
	// revivedSeen is the store's greatest revival number this projector
	// has caught up with (see catchUpRevived): while the store's stays
	// there, a step reads no revivals.
	revivedSeen atomic.Int64
	// reloads counts checkpoint resets made outside Run's loop (a
	// rejection's reset): Run reloads its checkpoint when it changes.
	reloads    atomic.Int64
	cancelWait context.CancelFunc // wakes Run's wait; under mu
}

// New returns the projector name over store. The name keys its checkpoint,
// so it must stay stable; give a new name (or use Versioned) to build a new
// read model from scratch.
func New(name string, store Store, opts Options) (*Projector, error) {
	if name == "" {
		return nil, errors.New("projector: empty name")
	}
	if store == nil {
		return nil, errors.New("projector: nil store")
	}
	if opts.Handlers == nil {
		opts.Handlers = NewHandlers()
	}
	if err := opts.Handlers.Err(); err != nil {
		return nil, err
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	opts.Retry = opts.Retry.withDefaults()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Projector{name: name, store: store, opts: opts, log: log.With("projector", name), pos: -1, changed: make(chan struct{})}, nil
}

// Name returns the projector's name (its checkpoint key).
func (p *Projector) Name() string { return p.name }

// Position returns the projector's stored checkpoint.
func (p *Projector) Position(ctx context.Context) (int64, error) {
	return p.store.Checkpoint(ctx, p.name)
}

// Run catches up from the checkpoint and then follows the ledger, waking on
// new commits (no polling), until ctx is done (it returns nil then) or a
// handler error stops it under the projector's policy (it returns the
// error). Only one Run of a Projector may be active at a time.
func (p *Projector) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer p.running.Store(false)
	err := p.follow(ctx)
	if ctx.Err() != nil {
		return nil // shutting down; whatever failed is redone next run
	}
	return err
}

func (p *Projector) follow(ctx context.Context) error {
	pos, err := p.store.Checkpoint(ctx, p.name)
	if err != nil {
		return fmt.Errorf("projector %s: checkpoint: %w", p.name, err)
	}
	p.setPos(pos)
	if err := p.catchUpRevived(ctx); err != nil {
		return err
	}
	head, err := p.store.Head(ctx)
	if err != nil {
		return fmt.Errorf("projector %s: head: %w", p.name, err)
	}
	reloads := p.reloads.Load()
	for {
		if r := p.reloads.Load(); r != reloads {
			// A rejection reset the read model: start again from the
			// stored checkpoint.
			reloads = r
			if pos, err = p.store.Checkpoint(ctx, p.name); err != nil {
				return fmt.Errorf("projector %s: checkpoint: %w", p.name, err)
			}
			p.setPos(pos)
		}
		// ProjectInserted may have moved the checkpoint past pos inside a
		// writer's transaction: start from there rather than rediscover it
		// through a failed checkPos.
		cur, _ := p.current()
		pos = max(pos, cur)
		if pos >= head {
			if head, err = p.wait(ctx, pos, reloads); err != nil {
				return err
			}
			continue
		}
		next, n, err := p.step(ctx, pos, false)
		if err != nil {
			return err
		}
		if n == 0 { // head is ahead but nothing is readable yet: wait for a commit
			if head, err = p.store.Wait(ctx, head); err != nil {
				return err
			}
			continue
		}
		pos = next
		head = max(head, pos)
		p.report(pos, head, false)
	}
}

// CatchUp handles the events up to the ledger head as it is when CatchUp
// starts, then returns the projector's position. It is Run without the
// following, for tools and tests.
func (p *Projector) CatchUp(ctx context.Context) (int64, error) {
	head, err := p.store.Head(ctx)
	if err != nil {
		return 0, fmt.Errorf("projector %s: head: %w", p.name, err)
	}
	pos, err := p.store.Checkpoint(ctx, p.name)
	if err != nil {
		return 0, fmt.Errorf("projector %s: checkpoint: %w", p.name, err)
	}
	p.setPos(pos)
	if err := p.catchUpRevived(ctx); err != nil {
		return pos, err
	}
	return p.replay(ctx, pos, head, false)
}

// replay handles events after pos up to until.
func (p *Projector) replay(ctx context.Context, pos, until int64, hydrate bool) (int64, error) {
	for pos < until {
		next, n, err := p.step(ctx, pos, hydrate)
		if err != nil {
			return pos, err
		}
		if n == 0 {
			break
		}
		pos = next
		p.report(pos, max(until, pos), hydrate)
	}
	return pos, nil
}

func (p *Projector) report(pos, head int64, rebuild bool) {
	if p.opts.Progress != nil {
		p.reportMu.Lock()
		defer p.reportMu.Unlock()
		p.opts.Progress(Progress{Projector: p.name, Done: pos, Total: head, Rebuild: rebuild})
	}
}

// WaitFor blocks until this Projector (running in this process) has
// committed position, or ctx is done. After an Append, waiting for the
// returned events' last Position gives read-your-writes on the read model.
func (p *Projector) WaitFor(ctx context.Context, position int64) error {
	for {
		p.mu.Lock()
		pos, ch := p.pos, p.changed
		p.mu.Unlock()
		if pos >= position {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// advance moves the in-memory position forward to pos, and reports whether
// it moved: not when a Run of this projector has committed further
// already, nor when the position moved backwards since resets was read (a
// Rebuild reset the checkpoint after the caller's commit).
func (p *Projector) advance(pos, resets int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pos <= p.pos || resets != p.resets {
		return false
	}
	p.pos = pos
	close(p.changed)
	p.changed = make(chan struct{})
	return true
}

// current returns the in-memory position and its reset count.
func (p *Projector) current() (pos, resets int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pos, p.resets
}

func (p *Projector) setPos(pos int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pos == p.pos {
		return
	}
	if pos < p.pos {
		p.resets++
	}
	p.pos = pos
	close(p.changed)
	p.changed = make(chan struct{})
}

// movedError reports that the stored checkpoint is not where this loop
// left it: another runner (or a Rebuild) moved it.
type movedError struct{ pos int64 }

func (e *movedError) Error() string {
	return fmt.Sprintf("projector: checkpoint moved to %d", e.pos)
}

// step reads up to BatchSize events after pos and handles them. It returns
// the new position and the number of events read (0: none available).
func (p *Projector) step(ctx context.Context, pos int64, hydrate bool) (int64, int, error) {
	if err := p.catchUpRevived(ctx); err != nil {
		return pos, 0, err
	}
	read := p.rejections.Load()
	batch, err := p.read(ctx, pos)
	if err != nil || len(batch) == 0 {
		return pos, 0, err
	}
	last := batch[len(batch)-1].Position
	err = p.apply(ctx, pos, batch, hydrate, read)
	var moved *movedError
	switch {
	case err == nil:
		p.setPos(last)
		return last, len(batch), nil
	case errors.As(err, &moved):
		p.log.Info("checkpoint moved by another runner", "from", pos, "to", moved.pos)
		p.setPos(moved.pos)
		return moved.pos, len(batch), nil
	case ctx.Err() != nil:
		return pos, 0, ctx.Err()
	case len(batch) == 1:
		next, err := p.handleFailure(ctx, pos, batch[0], hydrate, read, err)
		return next, 1, err
	}
	// Some event of the batch failed: redo it one event at a time, so the
	// events before the failing one commit and the policy applies to it.
	for _, e := range batch {
		next, _, err := p.stepOne(ctx, pos, e, hydrate, read)
		if err != nil {
			return pos, len(batch), err
		}
		if next != e.Position { // moved
			return next, len(batch), nil
		}
		pos = next
	}
	return pos, len(batch), nil
}

func (p *Projector) stepOne(ctx context.Context, pos int64, e eventstore.Event, hydrate bool, read int64) (int64, int, error) {
	err := p.apply(ctx, pos, []eventstore.Event{e}, hydrate, read)
	var moved *movedError
	switch {
	case err == nil:
		p.setPos(e.Position)
		return e.Position, 1, nil
	case errors.As(err, &moved):
		p.setPos(moved.pos)
		return moved.pos, 1, nil
	case ctx.Err() != nil:
		return pos, 0, ctx.Err()
	}
	next, err := p.handleFailure(ctx, pos, e, hydrate, read, err)
	return next, 1, err
}

// handleFailure applies the error policy to e, whose first attempt failed
// with err; read is the rejections count when e was read (see apply).
func (p *Projector) handleFailure(ctx context.Context, pos int64, e eventstore.Event, hydrate bool, read int64, err error) (int64, error) {
	var herr *HandlerError
	isHandler := errors.As(err, &herr)
	switch p.opts.OnError {
	case Retry:
		for attempt := 1; ; attempt++ {
			if attempt >= p.opts.Retry.Attempts {
				return pos, fmt.Errorf("projector %s: giving up after %d attempts: %w", p.name, attempt, err)
			}
			d := p.opts.Retry.Delay(attempt)
			p.log.Warn("handler failed, retrying", "event", e.ID, "position", e.Position, "attempt", attempt, "delay", d, "error", err)
			if serr := sleep(ctx, d); serr != nil {
				return pos, serr
			}
			err = p.apply(ctx, pos, []eventstore.Event{e}, hydrate, read)
			var moved *movedError
			switch {
			case err == nil:
				p.setPos(e.Position)
				return e.Position, nil
			case errors.As(err, &moved):
				p.setPos(moved.pos)
				return moved.pos, nil
			case ctx.Err() != nil:
				return pos, ctx.Err()
			}
		}
	case Skip:
		if !isHandler {
			return pos, fmt.Errorf("projector %s: %w", p.name, err)
		}
		p.log.Warn("handler failed, skipping event", "event", e.ID, "position", e.Position, "error", err)
		f := Failure{Projector: p.name, Position: e.Position, EventID: e.ID, Type: e.Type, Stream: e.Stream,
			Handler: herr.Handler, Error: herr.Err.Error(), At: time.Now().UTC()}
		if err := p.skip(ctx, pos, f); err != nil {
			var moved *movedError
			if errors.As(err, &moved) {
				p.setPos(moved.pos)
				return moved.pos, nil
			}
			return pos, fmt.Errorf("projector %s: record failure: %w", p.name, err)
		}
		p.setPos(e.Position)
		return e.Position, nil
	default:
		if isHandler {
			return pos, err
		}
		return pos, fmt.Errorf("projector %s: %w", p.name, err)
	}
}

func (p *Projector) read(ctx context.Context, pos int64) ([]eventstore.Event, error) {
	batch := make([]eventstore.Event, 0, min(p.opts.BatchSize, 64))
	for e, err := range p.store.ReadAll(ctx, pos, p.opts.BatchSize) {
		if err != nil {
			return nil, fmt.Errorf("projector %s: read after %d: %w", p.name, pos, err)
		}
		batch = append(batch, e)
	}
	return batch, nil
}

// apply handles batch in one transaction that also moves the checkpoint
// from pos to the batch's last position, after checking that the stored
// checkpoint is still pos and, when read >= 0, that no rejection was
// recorded since the batch was read (read is the rejections count then):
// its events could be stale copies of events now rejected, so the batch is
// refused as moved, to be read again.
func (p *Projector) apply(ctx context.Context, pos int64, batch []eventstore.Event, hydrate bool, read int64) error {
	last := batch[len(batch)-1].Position
	return p.store.Update(ctx, func(tx eventstore.Tx) error {
		if err := p.checkPos(ctx, tx, pos); err != nil {
			return err
		}
		if read >= 0 && p.rejections.Load() != read {
			return &movedError{pos: pos}
		}
		events := batch
		if hydrate {
			events = make([]eventstore.Event, len(batch))
			for i, e := range batch {
				e.Hydrated = true
				events[i] = e
			}
		}
		if err := p.opts.Handlers.DispatchBatch(ctx, tx, events, KindOn|KindAll); err != nil {
			return err
		}
		if err := p.unknown(ctx, tx, events); err != nil {
			return err
		}
		return eventstore.CheckpointsOf(tx).SetCheckpoint(ctx, p.name, last)
	})
}

func (p *Projector) checkPos(ctx context.Context, tx eventstore.Tx, pos int64) error {
	cp, err := eventstore.CheckpointsOf(tx).Checkpoint(ctx, p.name)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if cp != pos {
		return &movedError{pos: cp}
	}
	return nil
}

func (p *Projector) skip(ctx context.Context, pos int64, f Failure) error {
	return p.store.Update(ctx, func(tx eventstore.Tx) error {
		if err := p.checkPos(ctx, tx, pos); err != nil {
			return err
		}
		if err := p.recordFailure(ctx, tx, f); err != nil {
			return err
		}
		return eventstore.CheckpointsOf(tx).SetCheckpoint(ctx, p.name, f.Position)
	})
}

// recordFailure stores f inside tx, for Failures.
func (p *Projector) recordFailure(ctx context.Context, tx eventstore.Tx, f Failure) error {
	val, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return eventstore.KeyValuesOf(tx).SetState(ctx, failureKey(p.name, f.Position), val)
}

// Failures returns the events this projector skipped under the Skip
// policy, by position.
func (p *Projector) Failures(ctx context.Context) ([]Failure, error) {
	kvs, err := p.store.ListState(ctx, failurePrefix(p.name))
	if err != nil {
		return nil, fmt.Errorf("projector %s: failures: %w", p.name, err)
	}
	out := make([]Failure, 0, len(kvs))
	for _, kv := range kvs {
		var f Failure
		if err := json.Unmarshal(kv.Value, &f); err != nil {
			return nil, fmt.Errorf("projector %s: failure %s: %w", p.name, kv.Key, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// ClearFailures forgets the recorded failures (after they were dealt with,
// for example by a Rebuild).
func (p *Projector) ClearFailures(ctx context.Context) error {
	kvs, err := p.store.ListState(ctx, failurePrefix(p.name))
	if err != nil {
		return fmt.Errorf("projector %s: failures: %w", p.name, err)
	}
	return p.store.Update(ctx, func(tx eventstore.Tx) error {
		for _, kv := range kvs {
			if err := eventstore.KeyValuesOf(tx).DeleteState(ctx, kv.Key); err != nil {
				return err
			}
		}
		return nil
	})
}
