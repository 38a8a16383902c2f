package aggregate

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/ferrysync/ferry/eventstore"
)

// Aggregate is implemented by pointers to structs that embed Root; it cannot
// be implemented any other way. It is what Save accepts and the constraint
// on a Repository's state type.
type Aggregate interface {
	aggregateRoot() *Root
}

// Root is the part of an aggregate that Ferry manages: embed it (by value)
// in your aggregate struct and use the struct through a pointer. Its fields
// are unexported and not encoded in snapshots; a Repository fills them in
// when it creates or loads the aggregate.
//
// The zero Root belongs to an aggregate that no Repository made: its
// methods report an empty id and version 0, and Raise returns ErrUnbound.
type Root struct {
	id      string
	version int64 // events folded, raised ones included
	stored  int64 // events in the stream when loaded or last saved
	pending []eventstore.Event
	bound   *binding

	eventsRead   int64 // events read from the store by the load
	fromSnapshot bool  // whether the load started from a snapshot
}

// binding connects a Root to its Repository: how to fold a raised event
// into the aggregate that embeds the Root, and what to do after a save.
type binding struct {
	apply     func(e eventstore.Event) error
	schema    func(typ string) int
	clock     *eventstore.Clock
	afterSave func(ctx context.Context, store eventstore.Store, id string, from, to int64)
}

func (r *Root) aggregateRoot() *Root { return r }

// ID returns the aggregate's id: the name of its stream.
func (r *Root) ID() string { return r.id }

// Version returns the number of events folded into the aggregate, those
// raised and not yet saved included.
func (r *Root) Version() int64 { return r.version }

// Exists reports whether the aggregate has any event, stored or raised.
func (r *Root) Exists() bool { return r.version > 0 }

// Pending returns a copy of the events raised and not yet saved, in order.
func (r *Root) Pending() []eventstore.Event { return slices.Clone(r.pending) }

// Raise records a new event of type typ whose payload is data encoded as
// JSON (nil data: an empty object), and folds it into the aggregate at once
// through the reducer, so the rest of the command sees its effect. The
// event gets a new ID and the current schema version of its type (see
// reducer.Upcasters.Current); Created is assigned by the store when the
// event is saved, unless the Repository was given the store's clock
// (WithClock). A reducer error (no handler for typ, a payload that does not
// decode) is returned and nothing is recorded.
func (r *Root) Raise(typ string, data any) error {
	var raw json.RawMessage
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("aggregate %s: raise %s: encode data: %w", r.id, typ, err)
		}
		raw = b
	}
	return r.RaiseEvent(eventstore.Event{Type: typ, Data: raw})
}

// RaiseEvent is Raise for a caller that builds the event itself, for
// instance to set Meta (actor, causation). Stream, ID and Schema are filled
// in when empty; a Stream other than the aggregate's id is an error.
func (r *Root) RaiseEvent(e eventstore.Event) error {
	if r.bound == nil {
		return ErrUnbound
	}
	if e.Type == "" {
		return fmt.Errorf("aggregate %s: raise: empty event type", r.id)
	}
	if e.Stream == "" {
		e.Stream = r.id
	} else if e.Stream != r.id {
		return fmt.Errorf("aggregate %s: raise %s: event names stream %q", r.id, e.Type, e.Stream)
	}
	if e.ID == "" {
		e.ID = eventstore.NewID()
	}
	if e.Schema == 0 {
		e.Schema = r.bound.schema(e.Type)
	}
	if e.Created == 0 && r.bound.clock != nil {
		e.Created = r.bound.clock.Now()
	}
	if e.Data == nil {
		e.Data = json.RawMessage("{}")
	}
	if e.Meta == nil {
		e.Meta = json.RawMessage("{}")
	}
	if err := r.bound.apply(e); err != nil {
		return fmt.Errorf("aggregate %s: raise %s: %w", r.id, e.Type, err)
	}
	r.pending = append(r.pending, e)
	r.version++
	return nil
}
