// Package backend holds what the eventstore backends share: preparing and
// validating events before they are written, waking readers after commits,
// and the auto-committing Writer methods built on Store.Update.
package backend

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferrysync/ferry/eventstore"
)

// Core is the backend-independent part of a store.
type Core struct {
	Registry *eventstore.Registry
	Clock    *eventstore.Clock
	Origin   string
	Logger   *slog.Logger
	Notifier Notifier
	OnAppend func(ctx context.Context, tx eventstore.Tx, events []eventstore.Event) error
	// KeepUnknown makes PrepareInsert keep events the Registry refuses
	// (an unknown type, a payload it cannot validate) with Unknown set,
	// instead of failing. Edge backends set it; the envelope is always
	// checked. Config.RefuseUnknown overrides it.
	KeepUnknown   bool
	refuseUnknown bool
	revived       atomic.Int64 // the greatest revival number, once stored

}

// NewCore fills cfg's defaults. origin is used when cfg.Origin is empty.
func NewCore(cfg eventstore.Config, origin string) *Core {
	c := &Core{Registry: cfg.Registry, Clock: cfg.Clock, Origin: cfg.Origin, Logger: cfg.Logger, OnAppend: cfg.OnAppend,
		refuseUnknown: cfg.RefuseUnknown}
	if c.Clock == nil {
		c.Clock = eventstore.NewClock()
	}
	if c.Origin == "" {
		c.Origin = origin
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// PrepareAppend flattens writes into events in order, fills in ID, Stream,
// Created, Origin, Schema, Data and Meta defaults, and validates every event.
// It does not check expected versions.
func (c *Core) PrepareAppend(writes []eventstore.Write) ([]eventstore.Event, error) {
	n := 0
	for _, w := range writes {
		n += len(w.Events)
	}
	out := make([]eventstore.Event, 0, n)
	for _, w := range writes {
		for _, e := range w.Events {
			if e.Stream == "" {
				e.Stream = w.Stream
			} else if e.Stream != w.Stream {
				return nil, &eventstore.ValidationError{EventID: e.ID, Type: e.Type, Field: "stream",
					Reason: fmt.Sprintf("event names stream %q inside a write to %q", e.Stream, w.Stream)}
			}
			if e.ID == "" {
				e.ID = eventstore.NewID()
			}
			if e.Created == 0 {
				e.Created = c.Clock.Now()
			}
			if e.Origin == "" {
				e.Origin = c.Origin
			}
			e.Position, e.HubPosition, e.Hydrated, e.Outdated, e.Rejected, e.Unknown, e.Revived = 0, 0, false, false, false, false, 0
			if err := c.check(&e); err != nil {
				return nil, err
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// PrepareInsert validates events received from elsewhere, fills Schema, Data
// and Meta defaults, marks them Hydrated and observes their timestamps on the
// clock. Position and Outdated are left for the backend to set.
func (c *Core) PrepareInsert(events []eventstore.Event) ([]eventstore.Event, error) {
	out := make([]eventstore.Event, len(events))
	for i, e := range events {
		e.Position, e.Hydrated, e.Outdated, e.Rejected, e.Unknown, e.Revived = 0, true, false, false, false, 0
		e = e.WithDefaults()
		if err := eventstore.ValidateEnvelope(e); err != nil {
			return nil, err
		}
		if err := c.Registry.Validate(e); err != nil {
			if !c.KeepUnknown || c.refuseUnknown {
				return nil, err
			}
			e.Unknown = true
		}
		out[i] = e
	}
	for _, e := range out {
		if _, err := c.Clock.Observe(e.Created); err != nil {
			return nil, fmt.Errorf("insert %s: %w", e.ID, err)
		}
	}
	return out, nil
}

func (c *Core) check(e *eventstore.Event) error {
	*e = e.WithDefaults()
	if err := eventstore.ValidateEnvelope(*e); err != nil {
		return err
	}
	return c.Registry.Validate(*e)
}

// Revived returns the greatest revival number the store holds, as far as
// this process knows (0: none): backends note it when they open and when
// Revive commits.
func (c *Core) Revived() int64 { return c.revived.Load() }

// NoteRevived records that revival numbers up to n are stored.
func (c *Core) NoteRevived(n int64) {
	for {
		cur := c.revived.Load()
		if n <= cur || c.revived.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Commutative reports whether events of typ are never Outdated (see
// eventstore.EventType.Commutative). Backends clear the flag they computed
// for such events before storing it.
func (c *Core) Commutative(typ string) bool { return c.Registry.Commutative(typ) }

// Revive implements the decision of eventstore.Reviver.Revive: of the
// events stored Unknown (in Position order), it numbers those the
// Registry now accepts after last, the highest revival number stored, and
// calls revive with each and its number; it returns how many.
func (c *Core) Revive(unknown []eventstore.Event, last int64, revive func(e eventstore.Event, num int64) error) (int, error) {
	n := 0
	for _, e := range unknown {
		if c.Registry == nil || c.Registry.Validate(e) != nil {
			continue
		}
		n++
		if err := revive(e, last+int64(n)); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// AfterAppend runs the OnAppend hook, if any. Backends call it at the end of
// Tx.Append, with the stored events (positions assigned) and the tx itself.
func (c *Core) AfterAppend(ctx context.Context, tx eventstore.Tx, events []eventstore.Event) error {
	if c.OnAppend == nil || len(events) == 0 {
		return nil
	}
	return c.OnAppend(ctx, tx, events)
}

// DuplicateIDError is the error for an Append whose caller-supplied ID is
// already stored.
func DuplicateIDError(e eventstore.Event) error {
	return &eventstore.ValidationError{EventID: e.ID, Type: e.Type, Field: "id", Reason: "an event with this id is already stored"}
}

// Notifier wakes every waiter when the ledger grows.
type Notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// C returns a channel that is closed at the next Broadcast.
func (n *Notifier) C() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// Broadcast wakes every goroutine blocked on a channel from C.
func (n *Notifier) Broadcast() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

// Wait implements Store.Wait: it returns once head() exceeds after, waking
// on the notifier and, when poll > 0, every poll interval as well (for
// commits made by other processes that the notifier cannot see).
func (c *Core) Wait(ctx context.Context, after int64, head func(context.Context) (int64, error), poll time.Duration) (int64, error) {
	var tick <-chan time.Time
	if poll > 0 {
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}
	for {
		ch := c.Notifier.C() // take the channel before reading head: no lost wake-up
		h, err := head(ctx)
		if err != nil {
			return 0, err
		}
		if h > after {
			return h, nil
		}
		select {
		case <-ch:
		case <-tick:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Updater runs fn in a transaction; it is what Store.Update does.
type Updater func(ctx context.Context, fn func(tx eventstore.Tx) error) error

// AutoCommit implements the writes of the core Store and of the
// capabilities every backend has by running each call in its own
// transaction through Update. Backends embed it.
type AutoCommit struct {
	Update Updater
}

// Append implements eventstore.Store.
func (a AutoCommit) Append(ctx context.Context, writes ...eventstore.Write) (out []eventstore.Event, err error) {
	err = a.Update(ctx, func(tx eventstore.Tx) error {
		out, err = tx.Append(ctx, writes...)
		return err
	})
	return out, err
}

// Insert implements eventstore.Store.
func (a AutoCommit) Insert(ctx context.Context, events ...eventstore.Event) (out []eventstore.InsertResult, err error) {
	err = a.Update(ctx, func(tx eventstore.Tx) error {
		out, err = tx.Insert(ctx, events...)
		return err
	})
	return out, err
}

// in runs f on tx's capability C, inside its own transaction.
func in[C any](ctx context.Context, a AutoCommit, f func(c C) error) error {
	return a.Update(ctx, func(tx eventstore.Tx) error {
		c, err := eventstore.As[C](tx)
		if err != nil {
			return err
		}
		return f(c)
	})
}

// AddRelations implements eventstore.RelationWriter.
func (a AutoCommit) AddRelations(ctx context.Context, key string, streams ...string) error {
	return in(ctx, a, func(w eventstore.RelationWriter) error { return w.AddRelations(ctx, key, streams...) })
}

// RemoveRelations implements eventstore.RelationWriter.
func (a AutoCommit) RemoveRelations(ctx context.Context, key string, streams ...string) error {
	return in(ctx, a, func(w eventstore.RelationWriter) error { return w.RemoveRelations(ctx, key, streams...) })
}

// SaveSnapshot implements eventstore.SnapshotWriter.
func (a AutoCommit) SaveSnapshot(ctx context.Context, s eventstore.Snapshot) error {
	return in(ctx, a, func(w eventstore.SnapshotWriter) error { return w.SaveSnapshot(ctx, s) })
}

// DeleteSnapshot implements eventstore.SnapshotWriter.
func (a AutoCommit) DeleteSnapshot(ctx context.Context, name, stream string) error {
	return in(ctx, a, func(w eventstore.SnapshotWriter) error { return w.DeleteSnapshot(ctx, name, stream) })
}

// SetCheckpoint implements eventstore.Checkpoints.
func (a AutoCommit) SetCheckpoint(ctx context.Context, name string, position int64) error {
	return in(ctx, a, func(w eventstore.Checkpoints) error { return w.SetCheckpoint(ctx, name, position) })
}

// SetState implements eventstore.KeyValues.
func (a AutoCommit) SetState(ctx context.Context, key string, value []byte) error {
	return in(ctx, a, func(w eventstore.KeyValues) error { return w.SetState(ctx, key, value) })
}

// DeleteState implements eventstore.KeyValues.
func (a AutoCommit) DeleteState(ctx context.Context, key string) error {
	return in(ctx, a, func(w eventstore.KeyValues) error { return w.DeleteState(ctx, key) })
}

// OutboxCommit implements eventstore.OutboxWriter by running each call in
// its own transaction through Update. Edge backends embed it beside
// AutoCommit.
type OutboxCommit struct {
	AutoCommit
}

// SetHubPositions implements eventstore.OutboxWriter.
func (a OutboxCommit) SetHubPositions(ctx context.Context, acks ...eventstore.HubAck) error {
	return in(ctx, a.AutoCommit, func(w eventstore.OutboxWriter) error { return w.SetHubPositions(ctx, acks...) })
}

// Reject implements eventstore.OutboxWriter.
func (a OutboxCommit) Reject(ctx context.Context, ids ...string) error {
	return in(ctx, a.AutoCommit, func(w eventstore.OutboxWriter) error { return w.Reject(ctx, ids...) })
}

// ServerStore is a backend store with every capability but the outbox:
// what the PostgreSQL store implements. Backends check themselves against
// it, or against EdgeStore, at compile time.
type ServerStore interface {
	eventstore.Store
	eventstore.Checkpoints
	eventstore.KeyValues
	eventstore.StateLister
	eventstore.Snapshots
	eventstore.Relations
	eventstore.StreamLister
	eventstore.StatusReader
}

// EdgeStore is a backend store of an edge replica: ServerStore and the
// sync outbox (the memory and SQLite stores).
type EdgeStore interface {
	ServerStore
	eventstore.Outbox
}

// ServerTx is the Tx of a ServerStore: the write halves of its
// capabilities.
type ServerTx interface {
	eventstore.Tx
	eventstore.Checkpoints
	eventstore.KeyValues
	eventstore.SnapshotWriter
	eventstore.RelationWriter
}

// EdgeTx is the Tx of an EdgeStore.
type EdgeTx interface {
	ServerTx
	eventstore.OutboxWriter
	eventstore.Repairer
	eventstore.Evicter
}
