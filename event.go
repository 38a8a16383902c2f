package ferry

import (
	"encoding/json"
	"fmt"
	"github.com/ferrysync/ferry/aggregate"

	"github.com/ferrysync/ferry/eventstore"
)

// EventType is an event definition whatever its payload type: what
// Options.Events lists. Only Event makes one.
type EventType interface {
	// Name returns the event type, e.g. "item:adjusted".
	Name() string
	// definition returns what the store's registry holds, or the error
	// found in the definition's options.
	definition() (eventstore.EventType, error)
}

// EventDef is an event type with payload T, defined once with Event and
// used everywhere the type is: the registry (Options.Events, or any
// handler that names it), read-model and effect handlers (On, All, Once),
// folds (Fold), aggregates (Raise) and appends (New).
type EventDef[T any] struct {
	name        string
	commutative bool
	check       func(T) error
	err         error
}

// EventOption configures an event definition (see Commutative, Check).
type EventOption func(*eventOptions)

type eventOptions struct {
	commutative bool
	checks      []any // func(T) error, T checked by Event
}

// Commutative declares that every event of the type counts (additive
// counters, stock adjustments, set additions, log lines): its events are
// never Outdated, so On handlers see all of them on every device and read
// models that add them up converge. Without it a type is last-writer-wins
// per stream: of two events of one stream and type, the later one makes the
// earlier Outdated, and On handlers skip it.
func Commutative() EventOption {
	return func(o *eventOptions) { o.commutative = true }
}

// Check declares a validation of the payload: an append (and an event
// pulled from the hub) whose payload fails it is refused with an error
// unwrapping to eventstore.ErrInvalidEvent. Return eventstore.FieldError to
// name the field. T must be the definition's payload type; Open reports a
// mismatch. A payload type with a method Validate() error is checked by it
// too, without Check.
func Check[T any](fn func(T) error) EventOption {
	return func(o *eventOptions) { o.checks = append(o.checks, fn) }
}

// Event defines the event type name with payload T:
//
//	var ItemAdjusted = ferry.Event[Adjusted]("item:adjusted", ferry.Commutative())
//
// Declare it once, as a package-level value. A bad option (a Check of
// another payload type) does not panic: Open reports it.
func Event[T any](name string, opts ...EventOption) *EventDef[T] {
	var o eventOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	d := &EventDef[T]{name: name, commutative: o.commutative}
	var checks []func(T) error
	for _, c := range o.checks {
		fn, ok := c.(func(T) error)
		if !ok || fn == nil {
			var zero T
			d.err = fmt.Errorf("ferry: event %q: Check of %T, want func(%T) error", name, c, zero)
			continue
		}
		checks = append(checks, fn)
	}
	d.check = func(v T) error {
		// A Validate method on T or on *T (the usual pointer receiver).
		val, ok := any(v).(aggregate.Validator)
		if !ok {
			val, ok = any(&v).(aggregate.Validator)
		}
		if ok {
			if err := val.Validate(); err != nil {
				return err
			}
		}
		for _, fn := range checks {
			if err := fn(v); err != nil {
				return err
			}
		}
		return nil
	}
	return d
}

// Name returns the event type.
func (d *EventDef[T]) Name() string { return d.name }

func (d *EventDef[T]) definition() (eventstore.EventType, error) {
	if d.err != nil {
		return eventstore.EventType{}, d.err
	}
	return eventstore.EventType{Name: d.name, Data: eventstore.JSON(d.check), Commutative: d.commutative}, nil
}

// Stored is an event of payload T as the store holds it: the record (ID,
// Stream, Created, Origin, flags; its raw Data is Event.Data) and the
// decoded payload.
type Stored[T any] struct {
	eventstore.Event
	// Data is the decoded payload.
	Data T
}

// Decode returns e with its payload decoded, or an error when e is not of
// this type or its payload does not decode into a T.
func (d *EventDef[T]) Decode(e eventstore.Event) (Stored[T], error) {
	if e.Type != d.name {
		return Stored[T]{}, fmt.Errorf("ferry: decode %s as %s", e.Type, d.name)
	}
	var v T
	if len(e.Data) > 0 {
		if err := json.Unmarshal(e.Data, &v); err != nil {
			return Stored[T]{}, fmt.Errorf("ferry: decode %s %s: %w", e.Type, e.ID, err)
		}
	}
	return Stored[T]{Event: e, Data: v}, nil
}

// Draft is a new event, not yet stored: what App.Append takes. Make it
// with EventDef.New.
type Draft struct {
	event eventstore.Event
	err   error
}

// New returns a draft event of this type with payload data, for
// App.Append. The payload is validated when it is appended.
func (d *EventDef[T]) New(data T) Draft {
	b, err := json.Marshal(data)
	if err != nil {
		return Draft{err: fmt.Errorf("ferry: encode %s: %w", d.name, err)}
	}
	return Draft{event: eventstore.Event{Type: d.name, Data: b}}
}

// raiser is an aggregate: a struct embedding Root, through a pointer.
type raiser interface {
	Raise(typ string, data any) error
}

// Raise records an event of this type with payload data on the aggregate
// agg (a pointer to a struct embedding Root) and folds it at once, inside a
// command run by Execute.
func (d *EventDef[T]) Raise(agg raiser, data T) error {
	if agg == nil {
		return fmt.Errorf("ferry: raise %s on a nil aggregate", d.name)
	}
	return agg.Raise(d.name, data)
}
