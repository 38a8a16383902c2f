package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/internal/backend"
)

// errTxDone reports use of a Tx after its Update returned.
var errTxDone = fmt.Errorf("memory: transaction already finished: %w", eventstore.ErrClosed)

// tx is a transaction in progress. It mutates the store in place (the write
// lock is held) and records how to undo each change.
type tx struct {
	s    *Store
	undo []func()
	done bool
	grew bool // events were stored: wake waiters after commit
}

var _ backend.EdgeTx = (*tx)(nil)

func (t *tx) onUndo(f func()) { t.undo = append(t.undo, f) }

func (t *tx) rollback() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i]()
	}
	t.undo = nil
}

func (t *tx) check(ctx context.Context) error {
	if t.done {
		return errTxDone
	}
	return ctx.Err()
}

// Append implements eventstore.Store.
func (t *tx) Append(ctx context.Context, writes ...eventstore.Write) ([]eventstore.Event, error) {
	if err := t.check(ctx); err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	events, err := t.s.core.PrepareAppend(writes)
	if err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	mark := len(t.undo)
	fail := func(err error) ([]eventstore.Event, error) {
		// Undo this call's changes so a caller that handles the error
		// inside its transaction keeps a consistent store.
		for i := len(t.undo) - 1; i >= mark; i-- {
			t.undo[i]()
		}
		t.undo = t.undo[:mark]
		return nil, err
	}
	out := make([]eventstore.Event, 0, len(events))
	i := 0
	for _, w := range writes {
		if err := w.Expect.Check(w.Stream, t.s.version(w.Stream)); err != nil {
			return fail(fmt.Errorf("append %s: %w", w.Stream, err))
		}
		for range w.Events {
			e := events[i]
			i++
			if _, dup := t.s.byID[e.ID]; dup {
				return fail(fmt.Errorf("append %s: %w", w.Stream, backend.DuplicateIDError(e)))
			}
			out = append(out, t.store(e))
		}
	}
	if err := t.s.core.AfterAppend(ctx, t, out); err != nil {
		return fail(fmt.Errorf("append: on-append hook: %w", err))
	}
	return out, nil
}

// Insert implements eventstore.Store.
func (t *tx) Insert(ctx context.Context, events ...eventstore.Event) ([]eventstore.InsertResult, error) {
	if err := t.check(ctx); err != nil {
		return nil, fmt.Errorf("insert: %w", err)
	}
	prepared, err := t.s.core.PrepareInsert(events)
	if err != nil {
		return nil, fmt.Errorf("insert: %w", err)
	}
	out := make([]eventstore.InsertResult, len(prepared))
	for i, e := range prepared {
		if pos, dup := t.s.byID[e.ID]; dup {
			stored := &t.s.events[pos-1]
			conflict := false
			if stored.HubPosition == 0 && e.HubPosition > 0 {
				if conflict = !eventstore.SameContent(*stored, e); !conflict {
					t.setHub(pos, e.HubPosition)
				}
			}
			e.Position, e.Outdated = pos, stored.Outdated
			out[i] = eventstore.InsertResult{Event: e, Conflict: conflict}
			continue
		}
		st := t.store(e)
		out[i] = eventstore.InsertResult{Event: st, Inserted: true}
	}
	// A later copy of an event in the batch may have given it a hub
	// position: report what is stored.
	for i := range out {
		if out[i].Inserted {
			out[i].Event.HubPosition = t.s.events[out[i].Event.Position-1].HubPosition
		}
	}
	return out, nil
}

// store adds a prepared event to the ledger and its stream, computing
// Position and Outdated and invalidating snapshots past it.
func (t *tx) store(e eventstore.Event) eventstore.Event {
	s := t.s
	st := s.streams[e.Stream]
	if st == nil {
		st = &stream{latest: make(map[string]eventstore.Cursor)}
		s.streams[e.Stream] = st
		name := e.Stream
		t.onUndo(func() { delete(s.streams, name) })
	}
	cur := eventstore.CursorOf(e)
	prev, had := st.latest[e.Type]
	e.Outdated = had && prev.Compare(cur) > 0 && !s.core.Commutative(e.Type)
	if !had || prev.Compare(cur) < 0 {
		st.latest[e.Type] = cur
		typ := e.Type
		t.onUndo(func() {
			if had {
				st.latest[typ] = prev
			} else {
				delete(st.latest, typ)
			}
		})
	}

	e.Position = int64(len(s.events)) + 1
	e.Data, e.Meta = clone(e.Data), clone(e.Meta)
	s.events = append(s.events, e)
	s.byID[e.ID] = e.Position
	id := e.ID
	t.onUndo(func() {
		n := len(s.events) - 1
		s.events[n] = eventstore.Event{}
		s.events = s.events[:n]
		delete(s.byID, id)
	})

	i := sort.Search(len(st.entries), func(i int) bool { return st.entries[i].cur.Compare(cur) > 0 })
	st.entries = slices.Insert(st.entries, i, entry{cur: cur, pos: e.Position})
	t.onUndo(func() { st.entries = slices.Delete(st.entries, i, i+1) })

	for name, snap := range s.snapshots[e.Stream] {
		if snap.Cursor.Compare(cur) > 0 {
			t.deleteSnapshot(e.Stream, name)
		}
	}
	t.grew = true
	return e
}

func (t *tx) setHub(pos, hub int64) {
	ev := &t.s.events[pos-1]
	old := ev.HubPosition
	ev.HubPosition = hub
	t.onUndo(func() { t.s.events[pos-1].HubPosition = old })
}

// SetHubPositions implements eventstore.OutboxWriter.
func (t *tx) SetHubPositions(ctx context.Context, acks ...eventstore.HubAck) error {
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("set hub positions: %w", err)
	}
	for _, a := range acks {
		if pos, ok := t.s.byID[a.ID]; ok && a.HubPosition > 0 && t.s.events[pos-1].HubPosition == 0 {
			t.setHub(pos, a.HubPosition)
		}
	}
	return nil
}

// AddRelations implements eventstore.RelationWriter.
func (t *tx) AddRelations(ctx context.Context, key string, streams ...string) error {
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("add relations %s: %w", key, err)
	}
	s := t.s
	set := s.relations[key]
	if set == nil && len(streams) > 0 {
		set = make(map[string]struct{})
		s.relations[key] = set
		t.onUndo(func() { delete(s.relations, key) })
	}
	for _, st := range streams {
		if _, ok := set[st]; ok {
			continue
		}
		set[st] = struct{}{}
		t.onUndo(func() { delete(set, st) })
	}
	return nil
}

// RemoveRelations implements eventstore.RelationWriter.
func (t *tx) RemoveRelations(ctx context.Context, key string, streams ...string) error {
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("remove relations %s: %w", key, err)
	}
	s := t.s
	set := s.relations[key]
	if set == nil {
		return nil
	}
	if len(streams) == 0 {
		delete(s.relations, key)
		t.onUndo(func() { s.relations[key] = set })
		return nil
	}
	for _, st := range streams {
		if _, ok := set[st]; !ok {
			continue
		}
		delete(set, st)
		t.onUndo(func() { set[st] = struct{}{} })
	}
	if len(set) == 0 {
		delete(s.relations, key)
		t.onUndo(func() { s.relations[key] = set })
	}
	return nil
}

// SaveSnapshot implements eventstore.SnapshotWriter.
func (t *tx) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("save snapshot %s/%s: %w", snap.Name, snap.Stream, err)
	}
	if snap.Name == "" || snap.Stream == "" {
		return fmt.Errorf("save snapshot: %w", &eventstore.ValidationError{Field: "snapshot", Reason: "name and stream must not be empty"})
	}
	s := t.s
	byName := s.snapshots[snap.Stream]
	if byName == nil {
		byName = make(map[string]eventstore.Snapshot)
		s.snapshots[snap.Stream] = byName
		t.onUndo(func() { delete(s.snapshots, snap.Stream) })
	}
	old, had := byName[snap.Name]
	snap.State = clone(snap.State)
	byName[snap.Name] = snap
	t.onUndo(func() {
		if had {
			byName[snap.Name] = old
		} else {
			delete(byName, snap.Name)
		}
	})
	return nil
}

// DeleteSnapshot implements eventstore.SnapshotWriter.
func (t *tx) DeleteSnapshot(ctx context.Context, name, stream string) error {
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("delete snapshot %s/%s: %w", name, stream, err)
	}
	if name != "" {
		t.deleteSnapshot(stream, name)
		return nil
	}
	for n := range t.s.snapshots[stream] {
		t.deleteSnapshot(stream, n)
	}
	return nil
}

func (t *tx) deleteSnapshot(stream, name string) {
	byName := t.s.snapshots[stream]
	old, ok := byName[name]
	if !ok {
		return
	}
	delete(byName, name)
	t.onUndo(func() { byName[name] = old })
}

// SetCheckpoint implements eventstore.Checkpoints.
func (t *tx) SetCheckpoint(ctx context.Context, name string, position int64) error {
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("set checkpoint %s: %w", name, err)
	}
	cp := t.s.checkpoints
	old, had := cp[name]
	cp[name] = position
	t.onUndo(func() {
		if had {
			cp[name] = old
		} else {
			delete(cp, name)
		}
	})
	return nil
}

// SetState implements eventstore.KeyValues.
func (t *tx) SetState(ctx context.Context, key string, value []byte) error {
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("set state %s: %w", key, err)
	}
	t.putState(key, clone(value), true)
	return nil
}

// DeleteState implements eventstore.KeyValues.
func (t *tx) DeleteState(ctx context.Context, key string) error {
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("delete state %s: %w", key, err)
	}
	t.putState(key, nil, false)
	return nil
}

func (t *tx) putState(key string, value []byte, set bool) {
	m := t.s.state
	old, had := m[key]
	if !had && !set {
		return
	}
	if set {
		if value == nil {
			value = []byte{}
		}
		m[key] = value
	} else {
		delete(m, key)
	}
	t.onUndo(func() {
		if had {
			m[key] = old
		} else {
			delete(m, key)
		}
	})
}

// StreamVersion implements eventstore.Tx.
func (t *tx) StreamVersion(ctx context.Context, stream string) (int64, error) {
	if err := t.check(ctx); err != nil {
		return 0, err
	}
	return t.s.version(stream), nil
}

// Checkpoint implements eventstore.Tx.
func (t *tx) Checkpoint(ctx context.Context, name string) (int64, error) {
	if err := t.check(ctx); err != nil {
		return 0, err
	}
	return t.s.checkpoints[name], nil
}

// State implements eventstore.Tx.
func (t *tx) State(ctx context.Context, key string) ([]byte, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.s.getState(key)
}
