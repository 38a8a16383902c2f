package memory

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"

	"github.com/ferrysync/ferry/eventstore"
)

var _ eventstore.Reviver = (*Store)(nil)

// Revive implements eventstore.Reviver: it accepts the events stored Unknown
// that the Registry now validates. Register the new types with the store's
// Registry first (a memory store does not outlive its process, so there is
// no Open to do it).
func (s *Store) Revive(ctx context.Context) (n int, err error) {
	err = s.Update(ctx, func(etx eventstore.Tx) error {
		t := etx.(*tx)
		var last int64
		var unknown []eventstore.Event
		for _, e := range t.s.events {
			last = max(last, e.Revived)
			if e.Unknown {
				unknown = append(unknown, e)
			}
		}
		n, err = s.core.Revive(unknown, last, func(e eventstore.Event, num int64) error {
			t.revive(e.Position, num)
			return nil
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revive: %w", err)
	}
	s.core.NoteRevived(s.maxRevived())
	return n, nil
}

// Revived implements eventstore.Reviver.
func (s *Store) Revived() int64 { return s.core.Revived() }

// maxRevived returns the greatest revival number stored.
func (s *Store) maxRevived() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var last int64
	for _, e := range s.events {
		last = max(last, e.Revived)
	}
	return last
}

// revive clears Unknown on the event at pos and gives it revival number
// num; a type now commutative clears Outdated on its stream's events of
// the type; the stream's snapshots are deleted.
func (t *tx) revive(pos, num int64) {
	s := t.s
	e := &s.events[pos-1]
	e.Unknown, e.Revived = false, num
	t.onUndo(func() { s.events[pos-1].Unknown, s.events[pos-1].Revived = true, 0 })
	if t.s.core.Commutative(e.Type) {
		for _, en := range s.streams[e.Stream].entries {
			if ev := &s.events[en.pos-1]; ev.Type == e.Type && ev.Outdated {
				p := en.pos
				ev.Outdated = false
				t.onUndo(func() { s.events[p-1].Outdated = true })
			}
		}
	}
	for name := range s.snapshots[e.Stream] {
		t.deleteSnapshot(e.Stream, name)
	}
}

// ReadRevived implements eventstore.Reviver.
func (s *Store) ReadRevived(ctx context.Context, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	return s.chunks(ctx, "read revived", func(buf []eventstore.Event) ([]eventstore.Event, bool) {
		for _, e := range s.events {
			if e.Revived > after && !evicted(&e) {
				buf = append(buf, e)
			}
		}
		slices.SortFunc(buf, func(a, b eventstore.Event) int { return cmp.Compare(a.Revived, b.Revived) })
		if limit > 0 && len(buf) > limit {
			buf = buf[:limit]
		}
		return buf, true
	})
}
