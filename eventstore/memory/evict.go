package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/ferrysync/ferry/eventstore"
)

// Evict implements eventstore.Evicter. An evicted event's slot in the
// ledger becomes a tombstone (no ID, its Position kept), which every ledger
// read skips, so positions keep indexing the ledger and are never given
// again; its ID leaves the index, its stream's index, type cursors,
// snapshots and relations go. Finding a stream's events (rejected ones
// are in no index) walks the ledger once: this store is for tests.
func (t *tx) Evict(ctx context.Context, streams ...string) (eventstore.Evicted, error) {
	var out eventstore.Evicted
	if err := t.check(ctx); err != nil {
		return out, fmt.Errorf("evict: %w", err)
	}
	s := t.s
	gone := make(map[string]bool, len(streams))
	for _, name := range streams {
		gone[name] = true
	}
	var positions []int64
	var held []string
	for i := range s.events {
		e := &s.events[i]
		if e.ID == "" || !gone[e.Stream] {
			continue
		}
		if e.HubPosition == 0 && !e.Hydrated && !e.Rejected && !slices.Contains(held, e.Stream) {
			held = append(held, e.Stream)
		}
		positions = append(positions, e.Position)
	}
	if len(held) > 0 {
		slices.Sort(held)
		return out, &eventstore.UnpushedError{Streams: held}
	}
	for _, pos := range positions {
		old := s.events[pos-1]
		// The tombstone keeps the revival number: Revive numbers after it,
		// so a number a projector has handled is never given again.
		s.events[pos-1] = eventstore.Event{Position: pos, Revived: old.Revived}
		delete(s.byID, old.ID)
		t.onUndo(func() {
			s.events[pos-1] = old
			s.byID[old.ID] = pos
		})
	}
	if len(positions) > 0 {
		out.Events, out.First = len(positions), positions[0]
	}
	for name := range gone {
		if st, ok := s.streams[name]; ok {
			delete(s.streams, name)
			t.onUndo(func() { s.streams[name] = st })
		}
		if snaps, ok := s.snapshots[name]; ok {
			delete(s.snapshots, name)
			t.onUndo(func() { s.snapshots[name] = snaps })
		}
	}
	for key, set := range s.relations {
		for name := range gone {
			if _, ok := set[name]; ok {
				delete(set, name)
				t.onUndo(func() { set[name] = struct{}{} })
			}
		}
		if len(set) == 0 {
			delete(s.relations, key)
			t.onUndo(func() { s.relations[key] = set })
		}
	}
	return out, nil
}

// evicted reports whether e is the tombstone of an evicted event.
func evicted(e *eventstore.Event) bool { return e.ID == "" }
