// Package memory is an in-memory eventstore backend, for tests and ephemeral
// use. It implements the whole eventstore.Store contract and passes the
// conformance suite in eventstore/storetest; nothing survives Close.
//
// Transactions hold the store's write lock for their whole duration and
// mutate in place, keeping an undo log that is replayed in reverse when the
// transaction's function returns an error. Readers never observe a
// transaction in progress. Because of that lock, a function passed to Update
// (or an OnAppend hook) must use its Tx, never the Store's own methods, or it
// deadlocks.
//
// Iterators copy events out in small chunks under the read lock and yield
// them without holding it, so the body of a range loop may call the store.
package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/internal/backend"
)

var _ backend.EdgeStore = (*Store)(nil)

// Store is an in-memory eventstore.Store. Create one with New.
type Store struct {
	backend.OutboxCommit
	core *backend.Core

	mu     sync.RWMutex
	closed bool

	events      []eventstore.Event // the ledger; events[i].Position == i+1
	byID        map[string]int64   // event id -> position
	streams     map[string]*stream
	relations   map[string]map[string]struct{}            // key -> streams
	snapshots   map[string]map[string]eventstore.Snapshot // stream -> name -> snapshot
	checkpoints map[string]int64
	state       map[string][]byte
	generation  string // see Generation
}

// stream is the per-stream index: the entries of its events that are not
// rejected, sorted by (Created, ID), and the greatest cursor per event type
// among them for the outdated rule.
type stream struct {
	entries []entry
	latest  map[string]eventstore.Cursor
}

type entry struct {
	cur eventstore.Cursor
	pos int64
}

// New returns an empty store configured by cfg. When cfg.Origin is empty a
// fresh id is generated for this store.
func New(cfg eventstore.Config) *Store {
	s := &Store{
		core:        backend.NewCore(cfg, "mem-"+eventstore.NewID()),
		byID:        make(map[string]int64),
		streams:     make(map[string]*stream),
		relations:   make(map[string]map[string]struct{}),
		snapshots:   make(map[string]map[string]eventstore.Snapshot),
		checkpoints: make(map[string]int64),
		state:       make(map[string][]byte),
		generation:  eventstore.NewID(),
	}
	s.core.KeepUnknown = true
	s.OutboxCommit = backend.OutboxCommit{AutoCommit: backend.AutoCommit{Update: s.Update}}
	return s
}

// Generation returns the id created with this store's ledger (see
// sqlite.Store.Generation): a hub holding its ledgers in memory starts a
// new generation whenever it starts.
func (s *Store) Generation(context.Context) (string, error) { return s.generation, nil }

// Origin returns the id this store records on locally created events.
func (s *Store) Origin() string { return s.core.Origin }

// Update runs fn in a transaction holding the store's write lock. When fn
// returns an error (or panics) every change it made is undone. fn must not
// call the Store's methods (use tx), and tx must not be used after fn returns.
func (s *Store) Update(ctx context.Context, fn func(tx eventstore.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return eventstore.ErrClosed
	}
	t := &tx{s: s}
	committed := false
	defer func() {
		t.done = true
		if !committed {
			t.rollback()
		}
		s.mu.Unlock()
		if committed && t.grew {
			s.core.Notifier.Broadcast()
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	committed = true
	return nil
}

// Close releases the store. Later calls fail with eventstore.ErrClosed and
// goroutines blocked in Wait return it.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.events, s.byID, s.streams = nil, nil, nil
	s.relations, s.snapshots, s.checkpoints, s.state = nil, nil, nil, nil
	s.mu.Unlock()
	s.core.Notifier.Broadcast()
	return nil
}

// rlock takes the read lock and reports ErrClosed when the store is closed
// (in which case the lock is not held).
func (s *Store) rlock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return eventstore.ErrClosed
	}
	return nil
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (int64, error) {
	if err := s.rlock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	return int64(len(s.events)), nil
}

// Wait implements eventstore.Store. It wakes on every commit that grows the
// ledger and on Close.
func (s *Store) Wait(ctx context.Context, after int64) (int64, error) {
	return s.core.Wait(ctx, after, s.Head, 0)
}

// Status implements eventstore.StatusReader.
func (s *Store) Status(ctx context.Context, e eventstore.Event) (eventstore.EventStatus, error) {
	if err := s.rlock(ctx); err != nil {
		return eventstore.EventStatus{}, err
	}
	defer s.mu.RUnlock()
	var st eventstore.EventStatus
	_, st.Exists = s.byID[e.ID]
	if str := s.streams[e.Stream]; str != nil {
		if c, ok := str.latest[e.Type]; ok {
			st.Outdated = c.Compare(eventstore.CursorOf(e)) > 0 && !s.core.Commutative(e.Type)
		}
	}
	return st, nil
}

// StreamVersion implements eventstore.Store.
func (s *Store) StreamVersion(ctx context.Context, name string) (int64, error) {
	if err := s.rlock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	return s.version(name), nil
}

func (s *Store) version(name string) int64 {
	if st := s.streams[name]; st != nil {
		return int64(len(st.entries))
	}
	return 0
}

// ListStreams implements eventstore.StreamLister.
func (s *Store) ListStreams(ctx context.Context, opts eventstore.ListOptions) ([]eventstore.StreamInfo, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	limit := opts.Limit
	if limit <= 0 {
		limit = eventstore.DefaultPageSize
	}
	var out []eventstore.StreamInfo
	for name, st := range s.streams {
		if len(name) < len(opts.Prefix) || name[:len(opts.Prefix)] != opts.Prefix || name <= opts.After || len(st.entries) == 0 {
			continue
		}
		out = append(out, eventstore.StreamInfo{Name: name, Version: int64(len(st.entries))})
	}
	slices.SortFunc(out, func(a, b eventstore.StreamInfo) int { return cmp.Compare(a.Name, b.Name) })
	if len(out) > limit {
		out = out[:limit:limit]
	}
	return out, nil
}

// StreamsByKeys implements eventstore.Relations.
func (s *Store) StreamsByKeys(ctx context.Context, keys ...string) ([]string, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	seen := make(map[string]struct{})
	for _, k := range keys {
		for st := range s.relations[k] {
			seen[st] = struct{}{}
		}
	}
	out := make([]string, 0, len(seen))
	for st := range seen {
		out = append(out, st)
	}
	slices.Sort(out)
	return out, nil
}

// LoadSnapshot implements eventstore.Snapshots.
func (s *Store) LoadSnapshot(ctx context.Context, name, stream string) (eventstore.Snapshot, error) {
	if err := s.rlock(ctx); err != nil {
		return eventstore.Snapshot{}, err
	}
	defer s.mu.RUnlock()
	snap, ok := s.snapshots[stream][name]
	if !ok {
		return eventstore.Snapshot{}, fmt.Errorf("load snapshot %s/%s: %w", name, stream, eventstore.ErrNotFound)
	}
	snap.State = clone(snap.State)
	return snap, nil
}

// Checkpoint implements eventstore.Checkpoints.
func (s *Store) Checkpoint(ctx context.Context, name string) (int64, error) {
	if err := s.rlock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	return s.checkpoints[name], nil
}

// State implements eventstore.KeyValues.
func (s *Store) State(ctx context.Context, key string) ([]byte, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	return s.getState(key)
}

func (s *Store) getState(key string) ([]byte, error) {
	v, ok := s.state[key]
	if !ok {
		return nil, fmt.Errorf("state %s: %w", key, eventstore.ErrNotFound)
	}
	return clone(v), nil
}

// ListState implements eventstore.StateLister.
func (s *Store) ListState(ctx context.Context, prefix string) ([]eventstore.KeyValue, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var out []eventstore.KeyValue
	for k, v := range s.state {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			out = append(out, eventstore.KeyValue{Key: k, Value: clone(v)})
		}
	}
	slices.SortFunc(out, func(a, b eventstore.KeyValue) int { return cmp.Compare(a.Key, b.Key) })
	return out, nil
}

// clone copies b, keeping nil as nil.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// Clock returns the HLC the store stamps and observes events with.
func (s *Store) Clock() *eventstore.Clock { return s.core.Clock }
