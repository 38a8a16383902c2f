package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/ferrysync/ferry/eventstore"
)

// Reject implements eventstore.OutboxWriter. The event keeps its place in the
// ledger, flagged; it leaves its stream's index (so stream reads and the
// version skip it), the type's latest cursor moves back to the greatest
// remaining event of the type, the stream's snapshots at or after it are
// deleted, and the Outdated flags it caused on earlier events of its type
// are re-derived without it.
func (t *tx) Reject(ctx context.Context, ids ...string) error {
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("reject: %w", err)
	}
	for _, id := range ids {
		pos, ok := t.s.byID[id]
		if !ok {
			continue
		}
		if e := &t.s.events[pos-1]; !e.Rejected && !e.Hydrated && e.HubPosition == 0 {
			t.reject(pos)
		}
	}
	return nil
}

// reject flags the event at pos and takes it out of its stream's index.
func (t *tx) reject(pos int64) {
	s := t.s
	e := &s.events[pos-1]
	e.Rejected = true
	t.onUndo(func() { s.events[pos-1].Rejected = false })

	st := s.streams[e.Stream]
	cur := eventstore.CursorOf(*e)
	i := sort.Search(len(st.entries), func(i int) bool { return st.entries[i].cur.Compare(cur) >= 0 })
	if i < len(st.entries) && st.entries[i].pos == pos {
		en := st.entries[i]
		st.entries = slices.Delete(st.entries, i, i+1)
		t.onUndo(func() { st.entries = slices.Insert(st.entries, i, en) })
	}

	if latest, ok := st.latest[e.Type]; ok && latest == cur {
		typ := e.Type
		found := false
		for j := len(st.entries) - 1; j >= 0; j-- {
			if s.events[st.entries[j].pos-1].Type == typ {
				st.latest[typ], found = st.entries[j].cur, true
				break
			}
		}
		if !found {
			delete(st.latest, typ)
		}
		t.onUndo(func() { st.latest[typ] = latest })
	}

	for name, snap := range s.snapshots[e.Stream] {
		if snap.Cursor.Compare(cur) >= 0 {
			t.deleteSnapshot(e.Stream, name)
		}
	}
	t.reoutdate(st, e.Type, pos, cur)
}

// reoutdate re-derives Outdated, as if the rejected event (at pos, cursor
// cur) had never been stored, for the events it could have made outdated:
// same type, stored after it, sorting before it. One stays outdated when a
// remaining event of its type, stored before it, sorts after it.
func (t *tx) reoutdate(st *stream, typ string, pos int64, cur eventstore.Cursor) {
	s := t.s
	for _, en := range st.entries {
		if en.cur.Compare(cur) >= 0 {
			break
		}
		ev := &s.events[en.pos-1]
		if ev.Type != typ || !ev.Outdated || en.pos < pos {
			continue
		}
		still := false
		for _, x := range st.entries {
			if x.pos < en.pos && x.cur.Compare(en.cur) > 0 && s.events[x.pos-1].Type == typ {
				still = true
				break
			}
		}
		if !still {
			p := en.pos
			ev.Outdated = false
			t.onUndo(func() { s.events[p-1].Outdated = true })
		}
	}
}
