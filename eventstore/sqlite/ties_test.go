package sqlite

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil"
)

// TestStreamReadTies checks reads of streams whose events share Created
// values against a model: filter, sort by (Created, ID), limit. Ties
// arrive in an order unrelated to their IDs. With tieBuffer lowered, the
// larger groups overflow it and the reads go through the sorted fallback,
// from the overflowing group on, for every option.
func TestStreamReadTies(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	// Created values with runs of ties, next to each other (so that a
	// bound off by one takes in a neighbour): 1 x 10, 5 x 11, 1 x 12,
	// 9 x 13, 2 x 14, 1 x 15, per stream.
	runs := []struct {
		at eventstore.Timestamp
		n  int
	}{{10, 1}, {11, 5}, {12, 1}, {13, 9}, {14, 2}, {15, 1}}
	var all []eventstore.Event
	for _, stream := range []string{"s", "u"} {
		for _, r := range runs {
			for i := range r.n {
				all = append(all, eventstore.Event{
					ID: eventstore.NewID(), Stream: stream, Type: []string{"a", "b"}[i%2], Schema: 1,
					Data: []byte(`{}`), Meta: []byte(`{}`), Created: r.at, Origin: "node",
				})
			}
		}
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	_, err := s.Insert(ctx, all...)
	require.NoError(t, err)

	model := func(streams []string, o eventstore.ReadOptions) []string {
		var out []eventstore.Event
		for _, e := range all {
			c := eventstore.CursorOf(e)
			switch {
			case !slices.Contains(streams, e.Stream),
				len(o.Types) > 0 && !slices.Contains(o.Types, e.Type),
				!o.After.IsZero() && c.Compare(o.After) <= 0,
				!o.Before.IsZero() && c.Compare(o.Before) >= 0,
				o.Until != 0 && e.Created > o.Until:
				continue
			}
			out = append(out, e)
		}
		slices.SortFunc(out, func(a, b eventstore.Event) int {
			c := cmp.Or(cmp.Compare(a.Created, b.Created), cmp.Compare(a.ID, b.ID))
			if o.Reverse {
				return -c
			}
			return c
		})
		if o.Limit > 0 && len(out) > o.Limit {
			out = out[:o.Limit]
		}
		return testutil.IDs(out)
	}

	// Cursors inside and between groups, taken from the model's order.
	ordered := model([]string{"s"}, eventstore.ReadOptions{})
	byID := map[string]eventstore.Event{}
	for _, e := range all {
		byID[e.ID] = e
	}
	cursor := func(i int) eventstore.Cursor { return eventstore.CursorOf(byID[ordered[i]]) }
	var cases []eventstore.ReadOptions
	for _, reverse := range []bool{false, true} {
		for _, limit := range []int{0, 1, 3, 4, 8, 100} {
			cases = append(cases,
				eventstore.ReadOptions{Reverse: reverse, Limit: limit},
				eventstore.ReadOptions{Reverse: reverse, Limit: limit, After: cursor(2)},   // inside the 20s
				eventstore.ReadOptions{Reverse: reverse, Limit: limit, After: cursor(6)},   // the 30
				eventstore.ReadOptions{Reverse: reverse, Limit: limit, Before: cursor(12)}, // inside the 40s
				eventstore.ReadOptions{Reverse: reverse, Limit: limit, After: cursor(8), Before: cursor(14)},
				eventstore.ReadOptions{Reverse: reverse, Limit: limit, Until: 40},
				eventstore.ReadOptions{Reverse: reverse, Limit: limit, Types: []string{"a"}},
			)
		}
	}
	defer func(n, b int) { tieBuffer, tieBufferBytes = n, b }(tieBuffer, tieBufferBytes)
	defer func() { testHookSpill = nil }()
	spills := 0
	testHookSpill = func() { spills++ }
	for _, buf := range []struct{ n, bytes int }{{1024, 8 << 20}, {3, 8 << 20}, {1, 8 << 20}, {1024, 1}} {
		tieBuffer, tieBufferBytes = buf.n, buf.bytes
		spills = 0
		for _, o := range cases {
			name := fmt.Sprintf("buffer %+v, %+v", buf, o)
			got := []string{}
			for e, err := range s.ReadStream(ctx, "s", o) {
				require.NoError(t, err, name)
				got = append(got, e.ID)
			}
			require.Equal(t, model([]string{"s"}, o), got, name)

			got = got[:0]
			for e, err := range s.ReadStreams(ctx, []string{"u", "s"}, o) {
				require.NoError(t, err, name)
				got = append(got, e.ID)
			}
			require.Equal(t, model([]string{"s", "u"}, o), got, "two streams, "+name)
		}
		if buf.n == 1024 && buf.bytes > 1 {
			require.Zero(t, spills, "no run of ties is that long")
		} else {
			require.NotZero(t, spills, "buffer %+v: the fallback never ran", buf)
		}
	}
}

// TestStreamReadSpillKeepsSnapshot: a read whose run of ties overflows the
// buffer, with a commit landing in the middle of it, sees none of that
// commit, before or after the run, as a single query would not.
func TestStreamReadSpillKeepsSnapshot(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	ev := func(at eventstore.Timestamp) eventstore.Event {
		return eventstore.Event{ID: eventstore.NewID(), Stream: "s", Type: "a", Schema: 1,
			Data: []byte(`{}`), Meta: []byte(`{}`), Created: at, Origin: "node"}
	}
	_, err := s.Insert(ctx, ev(10), ev(20), ev(20))
	require.NoError(t, err)
	defer func(n int) { tieBuffer = n }(tieBuffer)
	tieBuffer = 1
	spilled := false
	testHookSpill = func() { spilled = true }
	defer func() { testHookSpill = nil }()

	var got []eventstore.Timestamp
	for e, err := range s.ReadStream(ctx, "s", eventstore.ReadOptions{}) {
		require.NoError(t, err)
		got = append(got, e.Created)
		if len(got) == 1 {
			_, err := s.Insert(ctx, ev(15), ev(25))
			require.NoError(t, err)
		}
	}
	require.True(t, spilled, "the read did not overflow the buffer")
	require.Equal(t, []eventstore.Timestamp{10, 20, 20}, got)
}
