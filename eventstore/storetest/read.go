package storetest

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

var readChecks = []check{
	{"OrderByCreatedThenID", testOrder},
	{"LateEventSortsEarlier", testLateEvent},
	{"Options", testReadOptions},
	{"ReadStreamsMerge", testReadStreams},
	{"AcrossChunks", testAcrossChunks},
	{"SparseTypeFilter", testSparseFilter},
	{"EarlyBreak", testEarlyBreak},
	{"ReadOwnEventFields", testEventFields},
}

// sorted returns events in (Created, ID) order.
func sorted(events []eventstore.Event) []eventstore.Event {
	out := slices.Clone(events)
	slices.SortFunc(out, func(a, b eventstore.Event) int {
		return eventstore.CursorOf(a).Compare(eventstore.CursorOf(b))
	})
	return out
}

func reversed(events []eventstore.Event) []eventstore.Event {
	out := slices.Clone(events)
	slices.Reverse(out)
	return out
}

func testOrder(t *testing.T, h *harness) {
	s := h.store(t)
	b := base()
	// Inserted out of order, with two events sharing a Created value: the
	// stream is read by (Created, ID), not arrival order.
	e1 := remote("s", TypeNote, at(b, 30))
	e2 := remote("s", TypeNote, at(b, 10))
	e3 := remote("s", TypeNote, at(b, 20))
	e4 := remote("s", TypeNote, at(b, 20)) // same Created as e3, larger ID
	require.Less(t, e3.ID, e4.ID)
	insert(t, s, e4, e1, e3, e2)

	got := collect(t, s.ReadStream(t.Context(), "s", eventstore.ReadOptions{}))
	assert.Equal(t, []string{e2.ID, e3.ID, e4.ID, e1.ID}, ids(got))
	got = collect(t, s.ReadStream(t.Context(), "s", eventstore.ReadOptions{Reverse: true}))
	assert.Equal(t, []string{e1.ID, e4.ID, e3.ID, e2.ID}, ids(got))

	// The ledger is arrival order.
	all := collect(t, s.ReadAll(t.Context(), 0, 0))
	assert.Equal(t, []string{e4.ID, e1.ID, e3.ID, e2.ID}, ids(all))
	for i, e := range all {
		assert.Equal(t, int64(i+1), e.Position)
	}
	assert.Equal(t, int64(4), version(t, s, "s"))
	assert.Empty(t, collect(t, s.ReadStream(t.Context(), "nope", eventstore.ReadOptions{})))
}

func testLateEvent(t *testing.T, h *harness) {
	s := h.store(t)
	out := appendTo(t, s, "s", local(TypeNote, 1), local(TypeNote, 2))
	// A late event from another node, created before both local events.
	late := remote("s", TypeNote, out[0].Created-1)
	res := insert(t, s, late)
	assert.True(t, res[0].Inserted)
	assert.Equal(t, int64(3), res[0].Event.Position)

	got := collect(t, s.ReadStream(t.Context(), "s", eventstore.ReadOptions{}))
	assert.Equal(t, []string{late.ID, out[0].ID, out[1].ID}, ids(got))
	all := collect(t, s.ReadAll(t.Context(), 0, 0))
	assert.Equal(t, []string{out[0].ID, out[1].ID, late.ID}, ids(all))
}

func testReadOptions(t *testing.T, h *harness) {
	s := h.store(t)
	b := base()
	var evs []eventstore.Event
	for i := range 10 {
		typ := TypeNote
		if i%2 == 1 {
			typ = TypeRenamed
		}
		evs = append(evs, remote("s", typ, at(b, 10*(i+1))))
	}
	// Insert in a scrambled order.
	insert(t, s, evs[7], evs[2], evs[9], evs[0], evs[5], evs[3], evs[8], evs[1], evs[6], evs[4])
	insert(t, s, remote("other", TypeNote, at(b, 55)))
	cur := func(i int) eventstore.Cursor { return eventstore.CursorOf(evs[i]) }
	pick := func(idx ...int) []string {
		out := make([]string, len(idx))
		for i, j := range idx {
			out[i] = evs[j].ID
		}
		return out
	}
	span := func(from, to int) []int { // inclusive, either direction
		var out []int
		if from <= to {
			for i := from; i <= to; i++ {
				out = append(out, i)
			}
		} else {
			for i := from; i >= to; i-- {
				out = append(out, i)
			}
		}
		return out
	}
	cases := []struct {
		name string
		opts eventstore.ReadOptions
		want []int
	}{
		{"All", eventstore.ReadOptions{}, span(0, 9)},
		{"Types", eventstore.ReadOptions{Types: []string{TypeRenamed}}, []int{1, 3, 5, 7, 9}},
		{"TwoTypes", eventstore.ReadOptions{Types: []string{TypeRenamed, TypeNote}}, span(0, 9)},
		{"UnknownType", eventstore.ReadOptions{Types: []string{"x:y"}}, nil},
		{"After", eventstore.ReadOptions{After: cur(3)}, span(4, 9)},
		{"Before", eventstore.ReadOptions{Before: cur(6)}, span(0, 5)},
		{"AfterBefore", eventstore.ReadOptions{After: cur(2), Before: cur(7)}, span(3, 6)},
		{"AfterCreatedOnly", eventstore.ReadOptions{After: eventstore.Cursor{Created: evs[3].Created}}, span(3, 9)},
		{"UntilExact", eventstore.ReadOptions{Until: evs[4].Created}, span(0, 4)},
		{"UntilBetween", eventstore.ReadOptions{Until: at(b, 45)}, span(0, 3)},
		{"UntilBeforeAll", eventstore.ReadOptions{Until: at(b, 5)}, nil},
		{"Limit", eventstore.ReadOptions{Limit: 3}, span(0, 2)},
		{"LimitAboveCount", eventstore.ReadOptions{Limit: 50}, span(0, 9)},
		{"Reverse", eventstore.ReadOptions{Reverse: true}, span(9, 0)},
		{"ReverseLimit", eventstore.ReadOptions{Reverse: true, Limit: 3}, span(9, 7)},
		{"ReverseBeforeLimit", eventstore.ReadOptions{Reverse: true, Before: cur(6), Limit: 2}, span(5, 4)},
		{"ReverseAfter", eventstore.ReadOptions{Reverse: true, After: cur(6)}, span(9, 7)},
		{"ReverseUntil", eventstore.ReadOptions{Reverse: true, Until: evs[4].Created}, span(4, 0)},
		{"TypesReverseLimit", eventstore.ReadOptions{Types: []string{TypeNote}, Reverse: true, Limit: 2}, []int{8, 6}},
		{"TypesAfterLimit", eventstore.ReadOptions{Types: []string{TypeNote}, After: cur(2), Limit: 2}, []int{4, 6}},
		{"UntilAfterLimit", eventstore.ReadOptions{Until: evs[8].Created, After: cur(4), Limit: 10}, span(5, 8)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := collect(t, s.ReadStream(t.Context(), "s", c.opts))
			if len(c.want) == 0 {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, pick(c.want...), ids(got))
		})
	}
}

func testReadStreams(t *testing.T, h *harness) {
	s := h.store(t)
	b := base()
	var all []eventstore.Event
	for i := range 12 {
		stream := []string{"x", "y", "z"}[i%3]
		if i == 7 {
			stream = "x" // uneven streams
		}
		all = append(all, remote(stream, TypeNote, at(b, 100-5*i))) // later index, earlier time
	}
	insert(t, s, all...)
	insert(t, s, remote("w", TypeNote, at(b, 50)))
	var xy []eventstore.Event
	for _, e := range all {
		if e.Stream == "x" || e.Stream == "y" {
			xy = append(xy, e)
		}
	}
	want := sorted(xy)

	got := collect(t, s.ReadStreams(t.Context(), []string{"y", "x"}, eventstore.ReadOptions{}))
	assert.Equal(t, ids(want), ids(got), "merged in (Created, ID) order")
	got = collect(t, s.ReadStreams(t.Context(), []string{"x", "y", "x", "missing"}, eventstore.ReadOptions{}))
	assert.Equal(t, ids(want), ids(got), "duplicate and unknown names")
	got = collect(t, s.ReadStreams(t.Context(), []string{"x", "y"}, eventstore.ReadOptions{Reverse: true, Limit: 3}))
	assert.Equal(t, ids(reversed(want)[:3]), ids(got), "reverse with limit")
	got = collect(t, s.ReadStreams(t.Context(), []string{"x", "y"}, eventstore.ReadOptions{After: eventstore.CursorOf(want[2]), Limit: 4}))
	assert.Equal(t, ids(want[3:7]), ids(got), "after with limit")
	assert.Empty(t, collect(t, s.ReadStreams(t.Context(), nil, eventstore.ReadOptions{})))
	got = collect(t, s.ReadStreams(t.Context(), []string{"z"}, eventstore.ReadOptions{}))
	assert.Equal(t, ids(collect(t, s.ReadStream(t.Context(), "z", eventstore.ReadOptions{}))), ids(got))
}

// testAcrossChunks reads streams longer than any sane chunk or page size, so
// backends that page internally are checked at their page boundaries.
func testAcrossChunks(t *testing.T, h *harness) {
	s := h.store(t)
	b := base()
	const n = 1500
	var evs []eventstore.Event
	for i := range n {
		stream := []string{"p", "q", "r"}[i%3]
		typ := TypeNote
		if i%5 == 0 {
			typ = TypeRenamed
		}
		// Several events per millisecond, so IDs break ties.
		evs = append(evs, remote(stream, typ, at(b, (i*7919)%n/4)))
	}
	for i := 0; i < n; i += 500 {
		insert(t, s, evs[i:i+500]...)
	}
	of := func(stream, typ string) []eventstore.Event {
		var out []eventstore.Event
		for _, e := range evs {
			if (stream == "" || e.Stream == stream) && (typ == "" || e.Type == typ) && e.Stream != "r" {
				out = append(out, e)
			}
		}
		return sorted(out)
	}
	ctx := t.Context()
	assert.Equal(t, ids(of("p", "")), ids(collect(t, s.ReadStream(ctx, "p", eventstore.ReadOptions{}))))
	assert.Equal(t, ids(reversed(of("p", ""))), ids(collect(t, s.ReadStream(ctx, "p", eventstore.ReadOptions{Reverse: true}))))
	assert.Equal(t, ids(of("q", TypeRenamed)), ids(collect(t, s.ReadStream(ctx, "q", eventstore.ReadOptions{Types: []string{TypeRenamed}}))))
	pq := of("", "")
	assert.Equal(t, ids(pq), ids(collect(t, s.ReadStreams(ctx, []string{"p", "q"}, eventstore.ReadOptions{}))))
	assert.Equal(t, ids(reversed(pq)[:700]), ids(collect(t, s.ReadStreams(ctx, []string{"q", "p"}, eventstore.ReadOptions{Reverse: true, Limit: 700}))))
	pqr := of("", TypeRenamed)
	assert.Equal(t, ids(pqr), ids(collect(t, s.ReadStreams(ctx, []string{"p", "q"}, eventstore.ReadOptions{Types: []string{TypeRenamed}}))))

	all := collect(t, s.ReadAll(ctx, 0, 0))
	require.Len(t, all, n)
	for i, e := range all {
		require.Equal(t, int64(i+1), e.Position)
		require.Equal(t, evs[i].ID, e.ID)
	}
	assert.Equal(t, ids(evs[700:1000]), ids(collect(t, s.ReadAll(ctx, 700, 300))))
	assert.Equal(t, ids(evs[1400:]), ids(collect(t, s.ReadAll(ctx, 1400, 0))))
	assert.Empty(t, collect(t, s.ReadAll(ctx, n, 0)))
}

// testSparseFilter merges streams through a type filter that matches few
// events of a long stream, so a backend that scans in pages meets pages
// without matches between the matches.
func testSparseFilter(t *testing.T, h *harness) {
	s := h.store(t)
	b := base()
	const n = 5000
	var want []eventstore.Event
	evs := make([]eventstore.Event, 0, n)
	for i := range n {
		typ := TypeNote
		if i == 2500 || i == n-1 {
			typ = TypeRenamed
		}
		e := remote("p", typ, at(b, i))
		if typ == TypeRenamed {
			want = append(want, e)
		}
		evs = append(evs, e)
	}
	for i := 0; i < n; i += 1000 {
		insert(t, s, evs[i:i+1000]...)
	}
	for _, ms := range []int{100, 3000, 2 * n} {
		e := remote("q", TypeRenamed, at(b, ms))
		insert(t, s, e)
		want = append(want, e)
	}
	want = sorted(want)
	opts := eventstore.ReadOptions{Types: []string{TypeRenamed}}
	assert.Equal(t, ids(want), ids(collect(t, s.ReadStreams(t.Context(), []string{"p", "q"}, opts))))
	opts.Reverse = true
	assert.Equal(t, ids(reversed(want)), ids(collect(t, s.ReadStreams(t.Context(), []string{"p", "q"}, opts))))
	opts.Limit = 2
	assert.Equal(t, ids(reversed(want)[:2]), ids(collect(t, s.ReadStreams(t.Context(), []string{"p", "q"}, opts))))
}

// testEarlyBreak breaks out of every kind of iterator; the store must stay
// usable (no leaked lock, connection or transaction) and then close cleanly.
func testEarlyBreak(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	var evs []eventstore.Event
	for i := range 600 {
		evs = append(evs, local(TypeNote, i))
	}
	appendTo(t, s, "a", evs[:300]...)
	appendTo(t, s, "b", evs[300:]...)
	seqs := map[string]func() func(func(eventstore.Event, error) bool){
		"ReadStream": func() func(func(eventstore.Event, error) bool) {
			return s.ReadStream(ctx, "a", eventstore.ReadOptions{})
		},
		"ReadStreams": func() func(func(eventstore.Event, error) bool) {
			return s.ReadStreams(ctx, []string{"a", "b"}, eventstore.ReadOptions{Reverse: true})
		},
		"ReadAll": func() func(func(eventstore.Event, error) bool) { return s.ReadAll(ctx, 0, 0) },
	}
	if o, ok := s.(eventstore.Outbox); ok {
		seqs["ReadPending"] = func() func(func(eventstore.Event, error) bool) { return o.ReadPending(ctx, 0, 0) }
	}
	for round := range 3 { // more rounds than a small read pool has connections
		for name, seq := range seqs {
			n := 0
			for e, err := range seq() {
				require.NoError(t, err, name)
				require.NotEmpty(t, e.ID)
				n++
				if n == 5 {
					break
				}
			}
			assert.Equal(t, 5, n, name)
			// The loop body may write to the store while iterating.
			for _, err := range seq() {
				require.NoError(t, err)
				appendTo(t, s, "c", local(TypeNote, round))
				break
			}
		}
	}
	assert.Equal(t, int64(3*len(seqs)), version(t, s, "c"))
	require.NoError(t, s.Close())

	_, err := s.Append(ctx, eventstore.Write{Stream: "a", Events: []eventstore.Event{local(TypeNote, 0)}})
	assert.ErrorIs(t, err, eventstore.ErrClosed, "append after close")
	_, err = s.Head(ctx)
	assert.ErrorIs(t, err, eventstore.ErrClosed, "head after close")
	var last error
	for _, err := range s.ReadAll(ctx, 0, 0) {
		last = err
	}
	assert.ErrorIs(t, last, eventstore.ErrClosed, "read after close")
}

func testEventFields(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	in := eventstore.Event{Type: TypeCreated, Data: []byte(`{"title":"hello"}`), Meta: []byte(`{"actor":"ann"}`), Schema: 2}
	out := appendTo(t, s, "s", in)
	e := out[0]
	assert.True(t, eventstore.ValidID(e.ID))
	assert.Equal(t, "s", e.Stream)
	assert.NotZero(t, e.Created)
	assert.Equal(t, Origin, e.Origin)
	assert.Equal(t, int64(1), e.Position)

	plain := appendTo(t, s, "s", eventstore.Event{Type: TypeNote})[0]

	got := collect(t, s.ReadStream(ctx, "s", eventstore.ReadOptions{}))
	require.Len(t, got, 2)
	r := got[0]
	assert.Equal(t, e.ID, r.ID)
	assert.Equal(t, TypeCreated, r.Type)
	assert.Equal(t, 2, r.Schema)
	assert.JSONEq(t, `{"title":"hello"}`, string(r.Data))
	assert.JSONEq(t, `{"actor":"ann"}`, string(r.Meta))
	assert.Equal(t, e.Created, r.Created)
	assert.Equal(t, Origin, r.Origin)
	assert.Equal(t, int64(1), r.Position)
	assert.Zero(t, r.HubPosition)
	assert.False(t, r.Hydrated)
	assert.False(t, r.Outdated)

	p := got[1]
	assert.Equal(t, plain.ID, p.ID)
	assert.Equal(t, 1, p.Schema, "schema defaults to 1")
	assert.JSONEq(t, `{}`, string(p.Data), "data defaults to {}")
	assert.JSONEq(t, `{}`, string(p.Meta), "meta defaults to {}")

	// A caller mutating a returned event must not change the store.
	got[0].Data[0] = 'X'
	again := collect(t, s.ReadStream(ctx, "s", eventstore.ReadOptions{Limit: 1}))
	assert.JSONEq(t, `{"title":"hello"}`, string(again[0].Data))
}
