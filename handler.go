package ferry

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
)

// Handler is a handler of one event type: a read-model handler (On, All)
// for Projection.Handlers, or a side effect (Once) for Options.Effects.
type Handler struct {
	def  EventType
	kind projector.Kind
	name string // Once only
	tx   projector.TxFunc
	eff  projector.EffectFunc
}

// On handles the events of d that are not Outdated, with the read model's
// transaction: what keeps a read model current. Outdated is
// last-writer-wins per stream and event type: of two events of one stream
// and type, the one that sorts earlier is Outdated once the later one is
// stored, and On skips it, so a late edit never overwrites a newer one.
// Define additive types Commutative: their events are never Outdated.
//
// fn writes through tx, the transaction that also moves the projection's
// checkpoint (a crash never applies an event twice nor skips one); it must
// not commit or roll it back. On a device, an event the hub rejects
// reaches no handler: the projection is reset and replayed without it.
func On[T any](d *EventDef[T], fn func(ctx context.Context, tx *sql.Tx, e Stored[T]) error) Handler {
	return txHandler(projector.KindOn, d, fn)
}

// All handles every event of d, Outdated (last-writer-wins per stream and
// type; see On) or not, with the read model's transaction, as On does.
func All[T any](d *EventDef[T], fn func(ctx context.Context, tx *sql.Tx, e Stored[T]) error) Handler {
	return txHandler(projector.KindAll, d, fn)
}

func txHandler[T any](kind projector.Kind, d *EventDef[T], fn func(ctx context.Context, tx *sql.Tx, e Stored[T]) error) Handler {
	h := Handler{def: d, kind: kind}
	if d == nil || fn == nil {
		return h // Open reports it
	}
	h.tx = func(ctx context.Context, tx eventstore.Tx, e eventstore.Event) error {
		s, err := d.Decode(e)
		if err != nil {
			return err
		}
		q, err := sqlOf(tx)
		if err != nil {
			return err
		}
		return fn(ctx, q, s)
	}
	return h
}

// Once is a side effect of d named name: it runs for events of d appended
// on this device that are not Outdated (last-writer-wins per stream and
// type; see On), through the effects outbox, after the append commits.
// It never runs for events pulled from the hub, nor on replay or rebuild,
// nor on another device. Runs are at-least-once (a crash between the
// effect and its record runs it again): pass e.ID as the idempotency key
// to external systems. The name keys the outbox's records, so it must
// stay stable across releases.
func Once[T any](d *EventDef[T], name string, fn func(ctx context.Context, e Stored[T]) error) Handler {
	h := Handler{def: d, kind: projector.KindOnce, name: name}
	if d == nil || fn == nil {
		return h
	}
	h.eff = func(ctx context.Context, eff projector.Effect) error {
		s, err := d.Decode(eff.Event)
		if err != nil {
			return err
		}
		return fn(ctx, s)
	}
	return h
}

// Projection is a SQL read model kept in the app's database file.
type Projection struct {
	// Name keys the projection's checkpoint: keep it stable (a new name
	// builds the read model again from the whole ledger).
	Name string
	// Schema is SQL run at Open, in one transaction before anything else
	// (CREATE TABLE IF NOT EXISTS ...).
	Schema string
	// Reset is SQL that empties the read model (DELETE FROM ...). It is
	// required: a rebuild runs it, and so does the arrival of a hub's
	// rejection of an event the projection handled, which then replays the
	// ledger without it.
	Reset string
	// Handlers are On and All handlers.
	Handlers []Handler
}

// sqlOf returns tx's SQL transaction: every transaction of the app's
// SQLite store has one.
func sqlOf(tx eventstore.Tx) (*sql.Tx, error) {
	s, ok := tx.(eventstore.SQLTx)
	if !ok {
		return nil, fmt.Errorf("ferry: transaction %T has no SQL", tx)
	}
	return s.SQL(), nil
}

// handlers builds the projector handlers of p.
func (p Projection) handlers() (*projector.Handlers, error) {
	h := projector.NewHandlers()
	for i, x := range p.Handlers {
		if x.kind == projector.KindOnce {
			return nil, optionsError("Projections", "projection %q: handler %d is a Once: side effects go in Options.Effects", p.Name, i)
		}
		if x.def == nil || x.tx == nil {
			return nil, optionsError("Projections", "projection %q: handler %d has no event type or function", p.Name, i)
		}
		h.AddTx(x.kind, x.def.Name(), x.tx)
	}
	if err := h.Err(); err != nil {
		return nil, optionsError("Projections", "projection %q: %v", p.Name, err)
	}
	return h, nil
}

// effectHandlers builds the projector handlers of Options.Effects.
func effectHandlers(effects []Handler) (*projector.Handlers, error) {
	h := projector.NewHandlers()
	for i, x := range effects {
		if x.kind != projector.KindOnce {
			return nil, optionsError("Effects", "handler %d is not a Once: read-model handlers go in a Projection", i)
		}
		if x.def == nil || x.eff == nil {
			return nil, optionsError("Effects", "handler %d has no event type or function", i)
		}
		h.AddEffect(x.def.Name(), x.name, x.eff)
	}
	if err := h.Err(); err != nil {
		return nil, optionsError("Effects", "%v", err)
	}
	return h, nil
}
