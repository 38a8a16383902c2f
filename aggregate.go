package ferry

import (
	"context"
	"fmt"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/reducer"
)

// Root is the part of an aggregate Ferry manages: embed it by value in the
// aggregate's struct and use the struct through a pointer (see
// aggregate.Root).
type Root = aggregate.Root

// Aggregate is an aggregate type S (a pointer to a struct embedding Root):
// how its state folds from its stream's events. Make it with NewAggregate,
// declare its folds with Fold, and run commands on it with Execute.
type Aggregate[S aggregate.Aggregate] struct {
	reducer *reducer.Reducer[S]
	err     error
}

// NewAggregate returns the aggregate type name, whose empty state init
// returns (a new, non-nil S).
func NewAggregate[S aggregate.Aggregate](name string, init func() S) *Aggregate[S] {
	return &Aggregate[S]{reducer: reducer.New(name, init)}
}

// Fold declares how an event of d changes an aggregate's state: fn
// changes s in place. Events of types without a Fold fail the load. A
// second Fold of one type is an error that Execute and Load return.
func Fold[S aggregate.Aggregate, T any](a *Aggregate[S], d *EventDef[T], fn func(s S, e Stored[T])) {
	switch {
	case a == nil:
		return
	case d == nil || fn == nil:
		a.fail(fmt.Errorf("ferry: aggregate %s: Fold without an event type or function", a.reducer.Name()))
	case a.reducer.Handles(d.Name()):
		a.fail(fmt.Errorf("ferry: aggregate %s: %s folded twice", a.reducer.Name(), d.Name()))
	default:
		reducer.On(a.reducer, d.Name(), func(s S, e eventstore.Event, v T) S {
			fn(s, Stored[T]{Event: e, Data: v})
			return s
		})
	}
}

func (a *Aggregate[S]) fail(err error) {
	if a.err == nil {
		a.err = err
	}
}

// repository returns a's repository over app's store, stamping raised
// events with the store's clock.
func (a *Aggregate[S]) repository(app *App) (*aggregate.Repository[S], error) {
	if a == nil || app == nil {
		return nil, fmt.Errorf("ferry: nil aggregate or app")
	}
	if a.err != nil {
		return nil, a.err
	}
	return aggregate.NewRepository(app.store, a.reducer, aggregate.WithClock(app.clock)), nil
}

// Execute runs the command cmd with input in on the aggregate id of type
// a: it validates in (when it has a Validate() error method), loads the
// aggregate (new when its stream is empty), runs cmd, which raises events
// (EventDef.Raise) or returns an error, and appends the raised events
// expecting the loaded version; on a concurrency conflict it loads and
// runs again. It returns the aggregate as saved. A validation failure
// unwraps to aggregate.ErrInvalidCommand, a refusal (aggregate.Reject) to
// aggregate.ErrRejected.
func Execute[S aggregate.Aggregate, I any](ctx context.Context, app *App, a *Aggregate[S], id string, cmd func(s S, in I) error, in I) (S, error) {
	repo, err := a.repository(app)
	if err != nil {
		var zero S
		return zero, err
	}
	return aggregate.Execute(ctx, repo, id, cmd, in)
}

// Load returns the aggregate id of type a, folded from its stream; an
// empty stream is an error unwrapping to aggregate.ErrAggregateNotFound.
func Load[S aggregate.Aggregate](ctx context.Context, app *App, a *Aggregate[S], id string) (S, error) {
	repo, err := a.repository(app)
	if err != nil {
		var zero S
		return zero, err
	}
	return repo.Load(ctx, id)
}
