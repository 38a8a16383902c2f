package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"

	"github.com/ferrysync/ferry/eventstore"
)

// Kind is a set of handler kinds, used as a bit mask.
type Kind uint8

// Handler kinds.
const (
	// KindOnce marks side-effect handlers: they run only for local events
	// that are not outdated, exactly when the event is first appended.
	KindOnce Kind = 1 << iota
	// KindOn marks read-model handlers: they run for every event that is
	// not outdated.
	KindOn
	// KindAll marks handlers that see every event.
	KindAll
)

// String names the kinds in k, e.g. "once|on|all".
func (k Kind) String() string {
	s := ""
	for _, p := range []struct {
		k    Kind
		name string
	}{{KindOnce, "once"}, {KindOn, "on"}, {KindAll, "all"}} {
		if k&p.k != 0 {
			if s != "" {
				s += "|"
			}
			s += p.name
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// Gate returns the handler kinds that run for e, from its flags:
//
//	hydrated outdated  kinds
//	false    false     once, on, all
//	true     false     on, all
//	false    true      all
//	true     true      all
//
// An event the hub rejected (e.Rejected) reaches no handler, whatever its
// other flags: it is excluded from reads and folds, and a rebuild leaves it
// out of every read model, All ones included. A read model that handled it
// live, before the rejection arrived, is reset and replayed when the
// rejection is recorded (see Projector.ProjectRejected), so it ends equal
// to what a rebuild produces.
//
// An event the store kept Unknown (a type or payload this app version's
// Registry refuses) runs no handler either: projectors skip it, and it is
// replayed to On and All handlers once an upgraded app's store revives it
// (see eventstore.Reviver). Its Once effects never run on this device: an
// event that arrived through sync is not this device's to act on.
func Gate(e eventstore.Event) Kind {
	switch {
	case e.Rejected, e.Unknown:
		return 0
	case e.Outdated:
		return KindAll
	case e.Hydrated:
		return KindOn | KindAll
	default:
		return KindOnce | KindOn | KindAll
	}
}

// TxFunc is an On or All handler as stored by Handlers: it gets the
// transaction its writes must go through.
type TxFunc func(ctx context.Context, tx eventstore.Tx, e eventstore.Event) error

// Effect is one run of a Once handler.
type Effect struct {
	// Key is the idempotency key: the event ID. Pass it to external
	// services so that a run repeated after a crash does no harm.
	Key string
	// Handler is the name the Once handler was registered under.
	Handler string
	// Event is the event that caused the effect.
	Event eventstore.Event
	// Attempt counts runs of this effect, from 1.
	Attempt int
}

// EffectFunc is a Once handler as stored by Handlers.
type EffectFunc func(ctx context.Context, eff Effect) error

type onceEntry struct {
	name string
	fn   EffectFunc
}

type typeHandlers struct {
	once []onceEntry
	on   []TxFunc
	all  []TxFunc
}

// Handlers is a set of handlers keyed by event type. The zero value is
// ready to use, and it is safe for concurrent use; register handlers before
// starting the projectors and effects that use them.
type Handlers struct {
	mu    sync.RWMutex
	types map[string]*typeHandlers
	batch []batchEntry
	err   error
}

// NewHandlers returns an empty handler set.
func NewHandlers() *Handlers { return &Handlers{} }

func (h *Handlers) entry(eventType string) *typeHandlers {
	if h.types == nil {
		h.types = make(map[string]*typeHandlers)
	}
	t := h.types[eventType]
	if t == nil {
		t = &typeHandlers{}
		h.types[eventType] = t
	}
	return t
}

func (h *Handlers) fail(err error) {
	if h.err == nil {
		h.err = err
	}
}

// Err returns the first registration error (an empty event type or Once
// name, a duplicate Once name, a nil function). New and NewEffects refuse a
// Handlers whose Err is not nil.
func (h *Handlers) Err() error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.err
}

// AddTx registers an untyped On (kind KindOn) or All (kind KindAll)
// handler for eventType.
func (h *Handlers) AddTx(kind Kind, eventType string, fn TxFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case eventType == "":
		h.fail(errors.New("projector: handler for an empty event type"))
	case fn == nil:
		h.fail(fmt.Errorf("projector: nil %s handler for %s", kind, eventType))
	case kind == KindOn:
		t := h.entry(eventType)
		t.on = append(t.on, fn)
	case kind == KindAll:
		t := h.entry(eventType)
		t.all = append(t.all, fn)
	default:
		h.fail(fmt.Errorf("projector: AddTx of kind %s for %s: want on or all", kind, eventType))
	}
}

// AddEffect registers an untyped Once handler for eventType under name.
// The name identifies the effect's records in the outbox, so it must stay
// stable across releases and be unique per event type.
func (h *Handlers) AddEffect(eventType, name string, fn EffectFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case eventType == "":
		h.fail(errors.New("projector: once handler for an empty event type"))
		return
	case name == "":
		h.fail(fmt.Errorf("projector: once handler for %s without a name", eventType))
		return
	case fn == nil:
		h.fail(fmt.Errorf("projector: nil once handler %s for %s", name, eventType))
		return
	}
	t := h.entry(eventType)
	for _, o := range t.once {
		if o.name == name {
			h.fail(fmt.Errorf("projector: once handler %q for %s registered twice", name, eventType))
			return
		}
	}
	t.once = append(t.once, onceEntry{name: name, fn: fn})
}

// Outdated is last-writer-wins per stream and event type: of two events of
// one stream and type, the one that sorts earlier (Created, then ID) is
// Outdated once the later one is stored. Right for facts that replace each
// other (a title, a status); wrong for facts that add up (stock
// adjustments, counters, set additions), which On would skip on a device
// that received them late. Register such types Commutative
// (eventstore.EventType.Commutative): their events are never Outdated.
//
// On registers fn as a read-model handler for eventType. It runs for every
// event of that type that is not Outdated, with the event's Data decoded
// into a D, inside the projector's transaction. Handlers write through tx
// (for SQL read models, tx.(eventstore.SQLTx).SQL()) and must not call the
// store itself: its writer is busy with tx.
func On[D any](h *Handlers, eventType string, fn func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d D) error) {
	h.AddTx(KindOn, eventType, typed(fn))
}

// All registers fn as a handler that runs for every event of eventType,
// Outdated (last-writer-wins per stream and type; see On) or not, with the event's Data decoded into a D, inside the
// projector's transaction.
func All[D any](h *Handlers, eventType string, fn func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d D) error) {
	h.AddTx(KindAll, eventType, typed(fn))
}

// Once registers fn as a side effect of eventType, named name. It runs
// through the Effects outbox, after the local append that created the
// event commits, and never for hydrated or outdated events (Outdated is
// last-writer-wins per stream and type; see On). Runs are
// at-least-once: use eff.Key as the idempotency key with external systems.
func Once[D any](h *Handlers, eventType, name string, fn func(ctx context.Context, eff Effect, d D) error) {
	if fn == nil {
		h.AddEffect(eventType, name, nil)
		return
	}
	h.AddEffect(eventType, name, func(ctx context.Context, eff Effect) error {
		d, err := decode[D](eff.Event)
		if err != nil {
			return err
		}
		return fn(ctx, eff, d)
	})
}

func typed[D any](fn func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d D) error) TxFunc {
	if fn == nil {
		return nil
	}
	return func(ctx context.Context, tx eventstore.Tx, e eventstore.Event) error {
		d, err := decode[D](e)
		if err != nil {
			return err
		}
		return fn(ctx, tx, e, d)
	}
}

func decode[D any](e eventstore.Event) (D, error) {
	var d D
	if len(e.Data) == 0 {
		return d, nil
	}
	if raw, ok := any(&d).(*json.RawMessage); ok {
		*raw = e.Data
		return d, nil
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return d, fmt.Errorf("decode %s data: %w", e.Type, err)
	}
	return d, nil
}

// Types returns the event types that have per-event handlers of any kind
// in mask, sorted.
func (h *Handlers) Types(mask Kind) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []string
	for name, t := range h.types {
		if (mask&KindOnce != 0 && len(t.once) > 0) || (mask&KindOn != 0 && len(t.on) > 0) || (mask&KindAll != 0 && len(t.all) > 0) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// EffectNames returns the names of the Once handlers of eventType, in
// registration order.
func (h *Handlers) EffectNames(eventType string) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	t := h.types[eventType]
	if t == nil {
		return nil
	}
	out := make([]string, len(t.once))
	for i, o := range t.once {
		out[i] = o.name
	}
	return out
}

func (h *Handlers) effect(eventType, name string) EffectFunc {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if t := h.types[eventType]; t != nil {
		for _, o := range t.once {
			if o.name == name {
				return o.fn
			}
		}
	}
	return nil
}

// Dispatch runs the handlers of e's type whose kind is both in mask and
// selected by Gate(e): first Once, then On, then All handlers, each in
// registration order. On and All handlers get tx; Once handlers run inline
// with Effect.Key = e.ID and Attempt 1 (a Projector never passes KindOnce:
// it leaves side effects to the Effects outbox). The first error stops the
// dispatch and is returned as a *HandlerError; a panicking handler is
// reported as an error.
func (h *Handlers) Dispatch(ctx context.Context, tx eventstore.Tx, e eventstore.Event, mask Kind) error {
	kinds := Gate(e) & mask
	if kinds == 0 {
		return nil
	}
	h.mu.RLock()
	t := h.types[e.Type]
	h.mu.RUnlock()
	if t == nil {
		return nil
	}
	if kinds&KindOnce != 0 {
		for _, o := range t.once {
			eff := Effect{Key: e.ID, Handler: o.name, Event: e, Attempt: 1}
			if err := callEffect(ctx, o.fn, eff); err != nil {
				return &HandlerError{Kind: KindOnce, Handler: o.name, Event: e, Err: err}
			}
		}
	}
	if kinds&KindOn != 0 {
		for i, fn := range t.on {
			if err := callTx(ctx, fn, tx, e); err != nil {
				return &HandlerError{Kind: KindOn, Handler: fmt.Sprintf("on#%d", i), Event: e, Err: err}
			}
		}
	}
	if kinds&KindAll != 0 {
		for i, fn := range t.all {
			if err := callTx(ctx, fn, tx, e); err != nil {
				return &HandlerError{Kind: KindAll, Handler: fmt.Sprintf("all#%d", i), Event: e, Err: err}
			}
		}
	}
	return nil
}

func callTx(ctx context.Context, fn TxFunc, tx eventstore.Tx, e eventstore.Event) (err error) {
	defer recoverTo(&err)
	return fn(ctx, tx, e)
}

func callEffect(ctx context.Context, fn EffectFunc, eff Effect) (err error) {
	defer recoverTo(&err)
	return fn(ctx, eff)
}

func recoverTo(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("handler panicked: %v\n%s", r, debug.Stack())
	}
}

// HandlerError reports a handler that failed on an event.
type HandlerError struct {
	Kind    Kind
	Handler string
	Event   eventstore.Event
	Err     error
}

// Error implements the error interface.
func (e *HandlerError) Error() string {
	return fmt.Sprintf("projector: %s handler %s on %s %s (position %d): %v",
		e.Kind, e.Handler, e.Event.Type, e.Event.ID, e.Event.Position, e.Err)
}

// Unwrap returns the handler's error.
func (e *HandlerError) Unwrap() error { return e.Err }
