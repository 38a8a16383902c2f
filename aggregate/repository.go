package aggregate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/reducer"
)

// Defaults of a Repository.
const (
	// DefaultRetries is how many times a command is retried after a
	// concurrency conflict.
	DefaultRetries = 3
	// DefaultSnapshotEvery is the snapshot interval, in events.
	DefaultSnapshotEvery = 100
)

// Option configures a Repository.
type Option func(*options)

type options struct {
	retries       int
	snapshotEvery int64
	clock         *eventstore.Clock
	logger        *slog.Logger
}

// WithRetries sets how many times Update and Execute retry a command after
// a concurrency conflict (default DefaultRetries; 0: never).
func WithRetries(n int) Option { return func(o *options) { o.retries = max(n, 0) } }

// WithSnapshotEvery sets the snapshot interval: a snapshot is saved after a
// save that brings the stream past a multiple of n events (default
// DefaultSnapshotEvery; n <= 0 disables snapshots).
func WithSnapshotEvery(n int) Option { return func(o *options) { o.snapshotEvery = int64(max(n, 0)) } }

// WithClock stamps raised events with Created from clock, so handlers see
// the event's final Created while the command runs. It must be the Clock in
// the store's Config (the HLC that orders this node's events); without it
// raised events have Created 0 until the store stamps them on save.
func WithClock(c *eventstore.Clock) Option { return func(o *options) { o.clock = c } }

// WithLogger sets where snapshot failures are reported (default: discarded).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Repository loads and saves aggregates of type S (a pointer to a struct
// embedding Root) from a store, folding them with a reducer. It is safe for
// concurrent use; aggregates it returns are not.
type Repository[S Aggregate] struct {
	store   eventstore.Store
	reducer *reducer.Reducer[S]
	opts    options
}

// NewRepository returns a repository of S over store. The reducer's init
// must return a new, non-nil S, and its handlers must modify the state in
// place and return it (Raise checks this).
func NewRepository[S Aggregate](store eventstore.Store, r *reducer.Reducer[S], opts ...Option) *Repository[S] {
	o := options{retries: DefaultRetries, snapshotEvery: DefaultSnapshotEvery}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return &Repository[S]{store: store, reducer: r, opts: o}
}

// Reducer returns the repository's reducer.
func (r *Repository[S]) Reducer() *reducer.Reducer[S] { return r.reducer }

// New returns a new, empty aggregate with the given id (version 0), without
// reading the store. Saving it expects the stream to be empty.
func (r *Repository[S]) New(id string) (S, error) {
	var zero S
	if id == "" {
		return zero, fmt.Errorf("aggregate: empty id")
	}
	s := r.reducer.Init()
	if err := r.bind(s, id, 0); err != nil {
		return zero, err
	}
	return s, nil
}

// Load returns the aggregate id folded from its latest snapshot and the
// events after it. When the stream holds no events it returns an error
// wrapping ErrAggregateNotFound.
func (r *Repository[S]) Load(ctx context.Context, id string) (S, error) {
	s, err := r.LoadOrNew(ctx, id)
	if err == nil && !s.aggregateRoot().Exists() {
		var zero S
		return zero, fmt.Errorf("load %s: %w", id, ErrAggregateNotFound)
	}
	return s, err
}

// LoadOrNew is Load that returns a new, empty aggregate (version 0) when the
// stream holds no events.
func (r *Repository[S]) LoadOrNew(ctx context.Context, id string) (S, error) {
	var zero S
	if id == "" {
		return zero, fmt.Errorf("aggregate: empty id")
	}
	res, err := reducer.ReduceStream(ctx, r.store, r.reducer, id, reducer.ReadOptions{})
	if err != nil {
		return zero, fmt.Errorf("load %s: %w", id, err)
	}
	if err := r.bind(res.State, id, res.Version); err != nil {
		return zero, err
	}
	root := res.State.aggregateRoot()
	root.eventsRead, root.fromSnapshot = res.EventsRead, res.FromSnapshot
	return res.State, nil
}

// Save saves the events raised on aggs atomically; see the package function
// Save.
func (r *Repository[S]) Save(ctx context.Context, aggs ...S) error {
	list := make([]Aggregate, len(aggs))
	for i, a := range aggs {
		list[i] = a
	}
	return Save(ctx, r.store, list...)
}

// Update runs fn on the aggregate id (loaded, or new when its stream is
// empty) and saves the events fn raised. When the save meets a concurrency
// conflict, it loads the aggregate again and reruns fn, up to the retry
// budget (WithRetries), then returns the conflict (errors.Is(err,
// eventstore.ErrConcurrency)). An error from fn is returned unchanged and
// nothing is saved. fn may run several times: it must have no side effects
// beyond raising events. On success Update returns the aggregate as saved.
func (r *Repository[S]) Update(ctx context.Context, id string, fn func(S) error) (S, error) {
	var zero S
	for attempt := 1; ; attempt++ {
		s, err := r.LoadOrNew(ctx, id)
		if err != nil {
			return zero, err
		}
		if err := fn(s); err != nil {
			return zero, err
		}
		err = r.Save(ctx, s)
		switch {
		case err == nil:
			return s, nil
		case !errors.Is(err, eventstore.ErrConcurrency):
			return zero, err
		case attempt > r.opts.retries:
			return zero, fmt.Errorf("aggregate %s: gave up after %d attempts: %w", id, attempt, err)
		}
	}
}

// bind attaches s to the repository as aggregate id at version.
func (r *Repository[S]) bind(s S, id string, version int64) error {
	root, ok := rootOf(s)
	if !ok {
		return fmt.Errorf("aggregate: reducer %s made a nil aggregate; its init must return a new pointer", r.reducer.Name())
	}
	root.id, root.version, root.stored, root.pending = id, version, version, nil
	root.bound = &binding{
		apply: func(e eventstore.Event) error {
			next, err := r.reducer.Apply(s, e)
			if err != nil {
				return err
			}
			if nr, ok := rootOf(next); !ok || nr != root {
				return fmt.Errorf("reducer %s: handler for %q returned another aggregate; aggregate handlers must modify the state in place and return it", r.reducer.Name(), e.Type)
			}
			return nil
		},
		schema:    r.reducer.Upcasters().Current,
		clock:     r.opts.clock,
		afterSave: r.afterSave,
	}
	return nil
}

// rootOf returns s's Root, or false when s is a nil pointer.
func rootOf[S Aggregate](s S) (root *Root, ok bool) {
	defer func() {
		if recover() != nil {
			root, ok = nil, false
		}
	}()
	root = s.aggregateRoot()
	return root, root != nil
}

// afterSave saves a snapshot of stream id when a save took it from version
// from to version to across a multiple of the snapshot interval. The
// snapshot is folded from the store, not taken from the aggregate in
// memory, so it holds what the stored events (with their stored Created and
// Position) give.
func (r *Repository[S]) afterSave(ctx context.Context, store eventstore.Store, id string, from, to int64) {
	n := r.opts.snapshotEvery
	if n <= 0 || from/n == to/n {
		return
	}
	res, err := reducer.ReduceStream(ctx, store, r.reducer, id, reducer.ReadOptions{})
	if err == nil {
		_, err = reducer.SaveSnapshot(ctx, store, r.reducer, id, res)
	}
	if err != nil {
		r.opts.logger.WarnContext(ctx, "aggregate snapshot not saved", slog.String("stream", id), slog.Any("err", err))
	}
}
