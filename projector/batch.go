package projector

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
)

// BatchFunc is a batch handler: it gets, in one call per projector
// transaction, the events of that transaction it subscribed to, in
// Position order. The slice is the handler's own.
type BatchFunc func(ctx context.Context, tx eventstore.Tx, events []eventstore.Event) error

type batchEntry struct {
	kind  Kind // KindOn or KindAll
	types map[string]bool
	fn    BatchFunc
}

// OnBatch registers fn as a batch read-model handler for eventTypes (at
// least one). For each transaction a Projector commits, fn gets the events
// of those types that On handlers see (not Outdated), in Position order,
// after the per-event handlers of the transaction ran; it is not called
// when there are none. Batch handlers suit bulk work during catch-up and
// rebuild (one prepared statement for a thousand rows); a live projector
// calls them with the few events available.
func OnBatch(h *Handlers, fn BatchFunc, eventTypes ...string) { h.addBatch(KindOn, fn, eventTypes) }

// AllBatch is OnBatch for every event of eventTypes, Outdated or not.
func AllBatch(h *Handlers, fn BatchFunc, eventTypes ...string) { h.addBatch(KindAll, fn, eventTypes) }

func (h *Handlers) addBatch(kind Kind, fn BatchFunc, eventTypes []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if fn == nil || len(eventTypes) == 0 {
		h.fail(fmt.Errorf("projector: %s batch handler needs a function and event types", kind))
		return
	}
	types := make(map[string]bool, len(eventTypes))
	for _, t := range eventTypes {
		if t == "" {
			h.fail(errors.New("projector: batch handler for an empty event type"))
			return
		}
		types[t] = true
	}
	h.batch = append(h.batch, batchEntry{kind: kind, types: types, fn: fn})
}

// DispatchBatch runs Dispatch for each event of events in order, then each
// batch handler whose kind is in mask with the events it subscribed to
// that Gate lets its kind see. Once handlers never run in batch.
func (h *Handlers) DispatchBatch(ctx context.Context, tx eventstore.Tx, events []eventstore.Event, mask Kind) error {
	for _, e := range events {
		if err := h.Dispatch(ctx, tx, e, mask); err != nil {
			return err
		}
	}
	h.mu.RLock()
	batch := h.batch
	h.mu.RUnlock()
	for i, b := range batch {
		if mask&b.kind == 0 {
			continue
		}
		sel := selectEvents(events, b)
		if len(sel) == 0 {
			continue
		}
		if err := callBatch(ctx, b.fn, tx, sel); err != nil {
			return &HandlerError{Kind: b.kind, Handler: fmt.Sprintf("%s-batch#%d", b.kind, i), Event: sel[0], Err: err}
		}
	}
	return nil
}

// selectEvents returns a copy of the events b subscribed to that Gate lets
// its kind see (a copy, so that a handler may reorder or keep its slice
// without touching the transaction's events or the next handler's).
func selectEvents(events []eventstore.Event, b batchEntry) []eventstore.Event {
	n := 0
	for i := range events {
		if b.types[events[i].Type] && Gate(events[i])&b.kind != 0 {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	sel := make([]eventstore.Event, 0, n)
	for i := range events {
		if b.types[events[i].Type] && Gate(events[i])&b.kind != 0 {
			sel = append(sel, events[i])
		}
	}
	return sel
}

func callBatch(ctx context.Context, fn BatchFunc, tx eventstore.Tx, events []eventstore.Event) (err error) {
	defer recoverTo(&err)
	return fn(ctx, tx, events)
}
