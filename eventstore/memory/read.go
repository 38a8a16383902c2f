package memory

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"math"
	"slices"
	"sort"

	"github.com/ferrysync/ferry/eventstore"
)

const (
	// chunkSize is how many events an iterator copies out per lock hold.
	chunkSize = 256
	// scanBudget bounds the entries examined per lock hold when filters
	// skip most of them.
	scanBudget = 4096
)

// chunks builds an iterator from fill, which appends the next chunk of
// events to buf under the read lock and reports whether it was the last.
func (s *Store) chunks(ctx context.Context, op string, fill func(buf []eventstore.Event) ([]eventstore.Event, bool)) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		var buf []eventstore.Event
		for {
			if err := s.rlock(ctx); err != nil {
				yield(eventstore.Event{}, fmt.Errorf("%s: %w", op, err))
				return
			}
			var done bool
			buf, done = fill(buf[:0])
			s.mu.RUnlock()
			for i := range buf {
				e := buf[i]
				e.Data, e.Meta = clone(e.Data), clone(e.Meta)
				if !yield(e, nil) {
					return
				}
			}
			if done {
				return
			}
		}
	}
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	next := max(after, 0) // index of the next event to copy
	left := limit
	return s.chunks(ctx, "read all", func(buf []eventstore.Event) ([]eventstore.Event, bool) {
		for scanned := 0; next < int64(len(s.events)); scanned++ {
			if len(buf) == chunkSize || scanned == scanBudget || (limit > 0 && left == 0) {
				return buf, limit > 0 && left == 0
			}
			e := &s.events[next]
			next++
			if !evicted(e) {
				buf = append(buf, *e)
				left--
			}
		}
		return buf, true
	})
}

// ReadPending implements eventstore.Outbox.
func (s *Store) ReadPending(ctx context.Context, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	next := max(after, 0)
	left := limit
	return s.chunks(ctx, "read pending", func(buf []eventstore.Event) ([]eventstore.Event, bool) {
		for scanned := 0; next < int64(len(s.events)); scanned++ {
			if len(buf) == chunkSize || scanned == scanBudget || (limit > 0 && left == 0) {
				return buf, limit > 0 && left == 0
			}
			e := &s.events[next]
			next++
			if e.HubPosition == 0 && !e.Hydrated && !e.Rejected && !evicted(e) {
				buf = append(buf, *e)
				left--
			}
		}
		return buf, true
	})
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadOptions) iter.Seq2[eventstore.Event, error] {
	return s.readStreams(ctx, "read stream "+stream, []string{stream}, opts)
}

// ReadStreams implements eventstore.Store.
func (s *Store) ReadStreams(ctx context.Context, streams []string, opts eventstore.ReadOptions) iter.Seq2[eventstore.Event, error] {
	return s.readStreams(ctx, "read streams", streams, opts)
}

// span is the part of a stream still to read: cursors strictly between lo
// and hi (each bound only when its flag is set).
type span struct {
	lo, hi       eventstore.Cursor
	hasLo, hasHi bool
}

func (s *Store) readStreams(ctx context.Context, op string, streams []string, opts eventstore.ReadOptions) iter.Seq2[eventstore.Event, error] {
	names := slices.Clone(streams)
	slices.Sort(names)
	names = slices.Compact(names)
	var sp span
	if !opts.After.IsZero() {
		sp.lo, sp.hasLo = opts.After, true
	}
	if !opts.Before.IsZero() {
		sp.hi, sp.hasHi = opts.Before, true
	}
	if opts.Until != 0 && opts.Until != math.MaxUint64 {
		// Created <= Until is the same as cursor < (Until+1, "").
		u := eventstore.Cursor{Created: opts.Until + 1}
		if !sp.hasHi || u.Compare(sp.hi) < 0 {
			sp.hi, sp.hasHi = u, true
		}
	}
	var types map[string]struct{}
	if len(opts.Types) > 0 {
		types = make(map[string]struct{}, len(opts.Types))
		for _, t := range opts.Types {
			types[t] = struct{}{}
		}
	}
	rev := opts.Reverse
	// first reports whether a comes before b in reading order.
	first := func(a, b eventstore.Cursor) bool {
		if rev {
			return a.Compare(b) > 0
		}
		return a.Compare(b) < 0
	}
	left := opts.Limit
	if len(names) == 0 {
		return func(func(eventstore.Event, error) bool) {}
	}
	var merged []eventstore.Event
	return s.chunks(ctx, op, func(buf []eventstore.Event) ([]eventstore.Event, bool) {
		want := chunkSize
		if opts.Limit > 0 {
			want = min(want, left)
		}
		merged = merged[:0]
		var bound eventstore.Cursor
		bounded := false
		for _, name := range names {
			st := s.streams[name]
			if st == nil {
				continue
			}
			var frontier eventstore.Cursor
			var more bool
			merged, frontier, more = s.scan(st, sp, rev, types, want, merged)
			if more && (!bounded || first(frontier, bound)) {
				bound, bounded = frontier, true
			}
		}
		slices.SortFunc(merged, func(a, b eventstore.Event) int {
			c := eventstore.CursorOf(a).Compare(eventstore.CursorOf(b))
			if rev {
				return -c
			}
			return c
		})
		if bounded {
			// Only events up to the least advanced stream's frontier are
			// known to be complete.
			n := sort.Search(len(merged), func(i int) bool { return first(bound, eventstore.CursorOf(merged[i])) })
			merged = merged[:n]
		}
		var progress eventstore.Cursor
		done := !bounded
		if len(merged) > want {
			merged = merged[:want]
			done = false
		}
		switch {
		case len(merged) == want && want > 0:
			progress = eventstore.CursorOf(merged[len(merged)-1])
		case bounded:
			progress = bound
		}
		buf = append(buf, merged...)
		left -= len(merged)
		if opts.Limit > 0 && left <= 0 {
			done = true
		}
		if !done {
			if rev {
				sp.hi, sp.hasHi = progress, true
			} else {
				sp.lo, sp.hasLo = progress, true
			}
		}
		return buf, done
	})
}

// scan appends to out up to want events of st within sp (in reading order)
// that pass the type filter, examining at most scanBudget entries. When it
// stops before the end of the span, more is true and frontier is the cursor
// of the last entry examined.
func (s *Store) scan(st *stream, sp span, rev bool, types map[string]struct{}, want int, out []eventstore.Event) (_ []eventstore.Event, frontier eventstore.Cursor, more bool) {
	es := st.entries
	got, scanned := 0, 0
	take := func(en entry) {
		e := &s.events[en.pos-1]
		if types != nil {
			if _, ok := types[e.Type]; !ok {
				return
			}
		}
		out = append(out, *e)
		got++
	}
	if !rev {
		i := 0
		if sp.hasLo {
			i = sort.Search(len(es), func(i int) bool { return es[i].cur.Compare(sp.lo) > 0 })
		}
		for ; i < len(es); i++ {
			if sp.hasHi && es[i].cur.Compare(sp.hi) >= 0 {
				return out, frontier, false
			}
			if got == want || scanned == scanBudget {
				return out, es[i-1].cur, true
			}
			take(es[i])
			scanned++
		}
		return out, frontier, false
	}
	i := len(es) - 1
	if sp.hasHi {
		i = sort.Search(len(es), func(i int) bool { return es[i].cur.Compare(sp.hi) >= 0 }) - 1
	}
	for ; i >= 0; i-- {
		if sp.hasLo && es[i].cur.Compare(sp.lo) <= 0 {
			return out, frontier, false
		}
		if got == want || scanned == scanBudget {
			return out, es[i+1].cur, true
		}
		take(es[i])
		scanned++
	}
	return out, frontier, false
}

// ReadStreamAfter yields the events of stream at positions after after, in
// Position order, at most limit (<= 0: all). Unlike the SQLite and
// PostgreSQL stores' it leaves rejected events out (a hub's ledger holds
// none).
func (s *Store) ReadStreamAfter(ctx context.Context, stream string, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		if err := s.rlock(ctx); err != nil {
			yield(eventstore.Event{}, err)
			return
		}
		var out []eventstore.Event
		if st := s.streams[stream]; st != nil { // the stream's index, in (Created, ID) order
			for _, en := range st.entries {
				if en.pos > after {
					out = append(out, s.events[en.pos-1])
				}
			}
		}
		s.mu.RUnlock()
		slices.SortFunc(out, func(a, b eventstore.Event) int { return cmp.Compare(a.Position, b.Position) })
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
		for _, e := range out {
			if !yield(e, nil) {
				return
			}
		}
	}
}
