package reducer

import (
	"encoding/json"
	"fmt"
	"iter"
	"strconv"

	"github.com/ferrysync/ferry/eventstore"
)

// UnknownPolicy says what a reducer does with an event whose type has no
// handler and no Default handler.
type UnknownPolicy uint8

const (
	// Reject fails the fold with an *UnhandledError naming the type. It is
	// the default: a reducer that meets a type it does not know cannot
	// vouch for its state.
	Reject UnknownPolicy = iota
	// Skip leaves the state unchanged, e.g. for a reducer that reads a
	// stream holding event types it has no interest in, or an older
	// application that receives types introduced by a newer one.
	Skip
)

// String returns "reject" or "skip".
func (p UnknownPolicy) String() string {
	if p == Skip {
		return "skip"
	}
	return "reject"
}

// Option configures a Reducer.
type Option func(*config)

type config struct {
	version   int
	unknown   UnknownPolicy
	kept      UnknownPolicy
	upcasters *Upcasters
	codec     Codec
}

// WithVersion sets the reducer's version (default 1). It is part of the
// snapshot name: bump it when handlers or the state's shape change so that
// snapshots made by the old code are not reused.
func WithVersion(v int) Option { return func(c *config) { c.version = v } }

// WithUnknown sets what happens to events of types without a handler
// (default Reject).
func WithUnknown(p UnknownPolicy) Option { return func(c *config) { c.unknown = p } }

// WithUnknownEvents sets what happens to events the store kept although
// this app version's Registry refused them (eventstore.Event.Unknown: a
// type introduced by a newer version, or a payload this version cannot
// validate). The default, Skip, folds the stream without them, so a command
// on such a stream proceeds on the state this version understands; the
// events still count in Result.Version, so the stream's expected version
// stays right. Reject fails the fold with an *UnknownEventError instead,
// for aggregates whose commands must not decide without every event (the
// command then fails until the app is upgraded).
func WithUnknownEvents(p UnknownPolicy) Option { return func(c *config) { c.kept = p } }

// WithUpcasters makes the reducer upcast every event to the current schema
// version of its type before a handler sees it.
func WithUpcasters(u *Upcasters) Option { return func(c *config) { c.upcasters = u } }

// WithCodec sets the snapshot state encoding (default JSON).
func WithCodec(codec Codec) Option { return func(c *config) { c.codec = codec } }

type handler[S any] func(s S, e eventstore.Event) (S, error)

// Reducer folds events into a state of type S. Build it with New and
// register handlers with On, OnRaw and Default before first use; after that
// it is safe for concurrent use.
//
// Handlers are pure: they return the next state and do no I/O. S may be a
// value type (handlers return a modified copy) or a pointer (handlers modify
// the state in place and return it; the aggregate package requires this).
type Reducer[S any] struct {
	name     string
	init     func() S
	cfg      config
	handlers map[string]handler[S]
	fallback func(S, eventstore.Event) S
}

// New returns a reducer named name (used in errors and snapshot names) whose
// folds start from init(). It panics when name is empty or init is nil:
// those are programming errors.
func New[S any](name string, init func() S, opts ...Option) *Reducer[S] {
	if name == "" || init == nil {
		panic("reducer.New: name and init are required")
	}
	r := &Reducer[S]{
		name:     name,
		init:     init,
		cfg:      config{version: 1, codec: JSON, kept: Skip},
		handlers: make(map[string]handler[S]),
	}
	for _, o := range opts {
		o(&r.cfg)
	}
	if r.cfg.codec == nil {
		r.cfg.codec = JSON
	}
	return r
}

// Name returns the reducer's name.
func (r *Reducer[S]) Name() string { return r.name }

// Version returns the reducer's version (see WithVersion).
func (r *Reducer[S]) Version() int { return r.cfg.version }

// SnapshotName returns the name its snapshots are stored under: the
// reducer's name and version, e.g. "task@v1".
func (r *Reducer[S]) SnapshotName() string {
	return r.name + "@v" + strconv.Itoa(r.cfg.version)
}

// Upcasters returns the reducer's upcaster registry (nil when none).
func (r *Reducer[S]) Upcasters() *Upcasters { return r.cfg.upcasters }

// Init returns a new initial state.
func (r *Reducer[S]) Init() S { return r.init() }

// Handles reports whether typ has a handler of its own.
func (r *Reducer[S]) Handles(typ string) bool {
	_, ok := r.handlers[typ]
	return ok
}

func (r *Reducer[S]) register(typ string, h handler[S]) {
	if typ == "" {
		panic(fmt.Sprintf("reducer %s: handler for an empty event type", r.name))
	}
	if _, dup := r.handlers[typ]; dup {
		panic(fmt.Sprintf("reducer %s: handler for %q registered twice", r.name, typ))
	}
	r.handlers[typ] = h
}

// On registers fn as the handler of events of type typ: the event's payload,
// upcast to the current schema version, is decoded from JSON into a D and
// passed along with the event. A payload that does not decode fails the fold
// with a *DecodeError. On panics when typ is empty or already has a handler,
// like http.HandleFunc: registration is program construction.
func On[S, D any](r *Reducer[S], typ string, fn func(s S, e eventstore.Event, d D) S) {
	r.register(typ, func(s S, e eventstore.Event) (S, error) {
		var d D
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return s, &DecodeError{Type: e.Type, EventID: e.ID, Err: err}
		}
		return fn(s, e, d), nil
	})
}

// OnRaw registers fn as the handler of events of type typ, without decoding
// their payload (for types whose payload carries nothing the state needs,
// or which the handler decodes itself). It panics like On.
func (r *Reducer[S]) OnRaw(typ string, fn func(s S, e eventstore.Event) S) {
	r.register(typ, func(s S, e eventstore.Event) (S, error) { return fn(s, e), nil })
}

// Default registers the catch-all handler for events of types that have no
// handler of their own. With a Default handler the unknown-type policy no
// longer applies.
func (r *Reducer[S]) Default(fn func(s S, e eventstore.Event) S) { r.fallback = fn }

// Apply folds one event into s: it upcasts the event, then runs its handler.
//
// An event the store kept Unknown is skipped, or refused with an
// *UnknownEventError, as WithUnknownEvents says.
func (r *Reducer[S]) Apply(s S, e eventstore.Event) (S, error) {
	if e.Unknown {
		if r.cfg.kept == Skip {
			return s, nil
		}
		return s, &UnknownEventError{Reducer: r.name, Type: e.Type, EventID: e.ID}
	}
	h, ok := r.handlers[e.Type]
	if !ok && r.fallback == nil {
		if r.cfg.unknown == Skip {
			return s, nil
		}
		return s, &UnhandledError{Reducer: r.name, Type: e.Type, EventID: e.ID}
	}
	if r.cfg.upcasters != nil {
		var err error
		if e, err = r.cfg.upcasters.Upcast(e); err != nil {
			return s, err
		}
	}
	if !ok {
		return r.fallback(s, e), nil
	}
	return h(s, e)
}

// Result is a fold's state and where it stands.
type Result[S any] struct {
	// State is the folded state.
	State S
	// Version is the number of events folded into State; for a whole
	// stream, the stream's version.
	Version int64
	// Cursor is the (Created, ID) of the last event folded (zero when
	// none): the cursor of a snapshot of State.
	Cursor eventstore.Cursor
	// EventsRead is the number of events this call read and folded: the
	// tail after the snapshot when one was used.
	EventsRead int64
	// FromSnapshot reports whether the fold started from a snapshot.
	FromSnapshot bool
}

// Start returns the result of folding no events: the initial state at
// version 0.
func (r *Reducer[S]) Start() Result[S] { return Result[S]{State: r.init()} }

// Fold continues from with every event of events, in the order given (which
// must be (Created, ID) order for the result to be a stream's state). It
// holds one event at a time. On error it returns the error and the result
// as it stood before the failing event; do not use that result as state.
func (r *Reducer[S]) Fold(from Result[S], events iter.Seq2[eventstore.Event, error]) (Result[S], error) {
	res := from
	for e, err := range events {
		if err != nil {
			return res, err
		}
		s, err := r.Apply(res.State, e)
		if err != nil {
			return res, err
		}
		res.State = s
		res.Version++
		res.EventsRead++
		res.Cursor = eventstore.Cursor{Created: e.Created, ID: e.ID}
	}
	return res, nil
}

// Reduce folds events from the initial state and returns the state.
func (r *Reducer[S]) Reduce(events iter.Seq2[eventstore.Event, error]) (S, error) {
	res, err := r.Fold(r.Start(), events)
	if err != nil {
		var zero S
		return zero, err
	}
	return res.State, nil
}

// Snapshot encodes res as the snapshot of stream.
func (r *Reducer[S]) Snapshot(stream string, res Result[S]) (eventstore.Snapshot, error) {
	b, err := r.cfg.codec.Marshal(res.State)
	if err != nil {
		return eventstore.Snapshot{}, fmt.Errorf("reducer %s: encode snapshot of %s: %w", r.name, stream, err)
	}
	return eventstore.Snapshot{Name: r.SnapshotName(), Stream: stream, Cursor: res.Cursor, Version: res.Version, State: b}, nil
}

// Restore decodes a snapshot into a result to continue folding from.
func (r *Reducer[S]) Restore(snap eventstore.Snapshot) (Result[S], error) {
	s := r.init()
	if err := r.cfg.codec.Unmarshal(snap.State, &s); err != nil {
		return Result[S]{}, fmt.Errorf("reducer %s: decode snapshot of %s: %w", r.name, snap.Stream, err)
	}
	return Result[S]{State: s, Version: snap.Version, Cursor: snap.Cursor, FromSnapshot: true}, nil
}
