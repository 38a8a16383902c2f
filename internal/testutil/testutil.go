// Package testutil holds the test helpers Ferry's packages share: reading a
// store's events into slices, building benchmark events and bounding a
// test's waits. It imports no backend, so any package's tests (a backend's
// own included) and the conformance suites can use it. It is for tests
// only.
package testutil

import (
	"context"
	"fmt"
	"iter"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// Collect drains seq into a slice, failing t on the first error.
func Collect(t testing.TB, seq iter.Seq2[eventstore.Event, error]) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	for e, err := range seq {
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

// LedgerReader is the part of a store Ledger reads.
type LedgerReader interface {
	ReadAll(ctx context.Context, after int64, limit int) iter.Seq2[eventstore.Event, error]
}

// Ledger returns every event of s in Position order.
func Ledger(t testing.TB, s LedgerReader) []eventstore.Event {
	t.Helper()
	return Collect(t, s.ReadAll(context.Background(), 0, 0))
}

// StreamReader is the part of a store ReadStream reads.
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, opts eventstore.ReadOptions) iter.Seq2[eventstore.Event, error]
}

// ReadStream returns the events of stream in (Created, ID) order.
func ReadStream(t testing.TB, s StreamReader, stream string) []eventstore.Event {
	t.Helper()
	return Collect(t, s.ReadStream(context.Background(), stream, eventstore.ReadOptions{}))
}

// IDs returns the IDs of events, in their order.
func IDs(events []eventstore.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// BenchEvents returns n client events, as the push and insert benchmarks
// send them: ten streams, one type, a small title payload and meta, Created
// from clock, origin "device-1".
func BenchEvents(clock *eventstore.Clock, n int) []eventstore.Event {
	events := make([]eventstore.Event, n)
	for i := range events {
		events[i] = eventstore.Event{
			ID: eventstore.NewID(), Stream: fmt.Sprintf("stream-%d", i%10), Type: "task:updated",
			Schema: 1, Data: fmt.Appendf(nil, `{"title":"task %d","done":false}`, i), Meta: []byte(`{"actor":"bench"}`),
			Created: clock.Now(), Origin: "device-1",
		}
	}
	return events
}
