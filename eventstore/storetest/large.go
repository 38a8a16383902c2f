package storetest

import (
	"context"
	"fmt"
	"iter"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

var largeChecks = []check{
	{"StreamsInBoundedMemory", testLargeStream},
}

// minAllocCheck is the smallest stream on which the allocation bound is
// asserted; below it a backend's fixed per-query cost dominates.
const minAllocCheck = 10_000

// testLargeStream builds a stream of largeN events and checks that reading
// its first events allocates a small fraction of what loading the whole
// stream would (so the backend streams rather than collecting rows), and
// that a full read yields exactly largeN events in order.
func testLargeStream(t *testing.T, h *harness) {
	n := h.cfg.largeN
	s := h.store(t)
	// Building 100,000 events under the race detector on a loaded 2-core
	// machine can take minutes: this deadlock guard is wider than guard's.
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	pad := strings.Repeat("x", 100)
	var first, last string
	const batch = 1000
	for i := 0; i < n; i += batch {
		evs := make([]eventstore.Event, min(batch, n-i))
		for j := range evs {
			evs[j] = eventstore.Event{Type: TypeNote, Data: fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i+j, pad)}
		}
		out, err := s.Append(ctx, eventstore.Write{Stream: "big", Events: evs})
		require.NoError(t, err)
		if i == 0 {
			first = out[0].ID
		}
		last = out[len(out)-1].ID
	}
	appendTo(t, s, "small", local(TypeNote, 0))
	require.Equal(t, int64(n), version(t, s, "big"))

	// What holding every event of the stream in memory would take, at the
	// very least: the Event values plus their strings and payloads.
	sample := collect(t, s.ReadStream(ctx, "big", eventstore.ReadOptions{Limit: 1}))[0]
	perEvent := int(unsafe.Sizeof(eventstore.Event{})) + len(sample.ID) + len(sample.Stream) +
		len(sample.Type) + len(sample.Origin) + len(sample.Data) + len(sample.Meta)
	whole := uint64(n * perEvent)

	partial := map[string]func() iter.Seq2[eventstore.Event, error]{
		"ReadStream": func() iter.Seq2[eventstore.Event, error] { return s.ReadStream(ctx, "big", eventstore.ReadOptions{}) },
		"ReadStreamReverse": func() iter.Seq2[eventstore.Event, error] {
			return s.ReadStream(ctx, "big", eventstore.ReadOptions{Reverse: true})
		},
		"ReadStreamTypes": func() iter.Seq2[eventstore.Event, error] {
			return s.ReadStream(ctx, "big", eventstore.ReadOptions{Types: []string{TypeNote}})
		},
		"ReadStreams": func() iter.Seq2[eventstore.Event, error] {
			return s.ReadStreams(ctx, []string{"big", "small"}, eventstore.ReadOptions{})
		},
		"ReadAll": func() iter.Seq2[eventstore.Event, error] { return s.ReadAll(ctx, 0, 0) },
	}
	if o, ok := s.(eventstore.Outbox); ok {
		partial["ReadPending"] = func() iter.Seq2[eventstore.Event, error] { return o.ReadPending(ctx, 0, 0) }
	}
	for name, seq := range partial {
		alloc := allocated(func() {
			k := 0
			for _, err := range seq() {
				require.NoError(t, err)
				if k++; k == 10 {
					break
				}
			}
			require.Equal(t, 10, k)
		})
		t.Logf("%s: first 10 of %d events allocated %d bytes (whole stream >= %d)", name, n, alloc, whole)
		if n >= minAllocCheck {
			assert.Less(t, alloc, whole/20, "%s: reading 10 events must not load the stream", name)
		}
	}

	// A full read, forward and reverse: exactly n events, in order.
	for _, rev := range []bool{false, true} {
		count := 0
		var prev eventstore.Event
		for e, err := range s.ReadStream(ctx, "big", eventstore.ReadOptions{Reverse: rev}) {
			require.NoError(t, err)
			if count > 0 {
				c := eventstore.CursorOf(prev).Compare(eventstore.CursorOf(e))
				if rev {
					c = -c
				}
				require.Negative(t, c, "event %d out of order", count)
			}
			prev = e
			count++
		}
		assert.Equal(t, n, count, "reverse=%v", rev)
		if rev {
			assert.Equal(t, first, prev.ID)
		} else {
			assert.Equal(t, last, prev.ID)
		}
	}
	count := 0
	for e, err := range s.ReadAll(ctx, 0, 0) {
		require.NoError(t, err)
		count++
		require.Equal(t, int64(count), e.Position)
	}
	assert.Equal(t, n+1, count)
}

// allocated returns the bytes the Go heap allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
