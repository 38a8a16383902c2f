package reducer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/reducer"
)

type benchState struct {
	N     int
	Sum   int
	Title string
}

type benchData struct {
	Title string `json:"title"`
	Delta int    `json:"delta"`
}

// benchEvents returns n events carrying a small JSON payload.
func benchEvents(n int) []eventstore.Event {
	events := make([]eventstore.Event, n)
	for i := range events {
		events[i] = eventstore.Event{
			ID: eventstore.NewID(), Stream: "bench", Type: "item:changed", Schema: 1,
			Created: eventstore.Timestamp(i + 1),
			Data:    json.RawMessage(fmt.Sprintf(`{"title":"item %d","delta":%d}`, i, i%7)),
		}
	}
	return events
}

// loop yields events over and over until n have been yielded.
func loop(events []eventstore.Event, n int) func(func(eventstore.Event, error) bool) {
	return func(yield func(eventstore.Event, error) bool) {
		for i := 0; i < n; i++ {
			if !yield(events[i%len(events)], nil) {
				return
			}
		}
	}
}

func reportRate(b *testing.B) float64 {
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "events/s")
	return rate
}

// BenchmarkFoldSimple folds events with a handler that does not decode the
// payload: the reducer's own overhead (dispatch, bookkeeping). Target:
// at least 1,000,000 events/s.
func BenchmarkFoldSimple(b *testing.B) {
	r := reducer.New("bench", func() benchState { return benchState{} })
	r.OnRaw("item:changed", func(s benchState, _ eventstore.Event) benchState {
		s.N++
		return s
	})
	events := benchEvents(1024)
	b.ReportAllocs()
	b.ResetTimer()
	res, err := r.Fold(r.Start(), loop(events, b.N))
	b.StopTimer()
	if err != nil || res.State.N != b.N {
		b.Fatalf("fold: %v, %d events", err, res.State.N)
	}
	reportRate(b)
}

// BenchmarkFoldTyped folds events with a typed handler (JSON decode of a
// small payload into a struct, then a state update) and measures, in the
// same run, json.Unmarshal of the same payloads into the same struct as the
// reference. The two alternate in chunks of 1024 events so that noise from
// other processes hits both alike. events/s is the typed fold's rate,
// raw-unmarshal-events/s the reference's, ratio the first over the second;
// ns/op covers both loops.
func BenchmarkFoldTyped(b *testing.B) {
	r := reducer.New("bench", func() benchState { return benchState{} })
	reducer.On(r, "item:changed", func(s benchState, _ eventstore.Event, d benchData) benchState {
		s.N++
		s.Sum += d.Delta
		s.Title = d.Title
		return s
	})
	events := benchEvents(1024)
	res := r.Start()
	var rawDur, foldDur time.Duration
	sum := 0
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += len(events) {
		chunk := events[:min(len(events), b.N-done)]
		t0 := time.Now()
		for _, e := range chunk {
			var d benchData
			if err := json.Unmarshal(e.Data, &d); err != nil {
				b.Fatal(err)
			}
			sum += d.Delta
		}
		t1 := time.Now()
		var err error
		if res, err = r.Fold(res, seq(chunk...)); err != nil {
			b.Fatal(err)
		}
		foldDur += time.Since(t1)
		rawDur += t1.Sub(t0)
	}
	b.StopTimer()
	if res.State.N != b.N || res.State.Sum != sum {
		b.Fatalf("fold: %d events, sum %d != %d", res.State.N, res.State.Sum, sum)
	}
	rate := float64(b.N) / foldDur.Seconds()
	raw := float64(b.N) / rawDur.Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(raw, "raw-unmarshal-events/s")
	b.ReportMetric(rate/raw, "ratio")
}

// BenchmarkReduceStreamMemory folds a 100,000-event stream read from the
// memory store: store iteration plus a simple handler.
func BenchmarkReduceStreamMemory(b *testing.B) {
	ctx := context.Background()
	s := newStore(b)
	const n = 100_000
	events := benchEvents(n)
	for i := 0; i < n; i += 1000 {
		if _, err := s.Append(ctx, eventstore.Write{Stream: "bench", Events: stripped(events[i : i+1000])}); err != nil {
			b.Fatal(err)
		}
	}
	r := reducer.New("bench", func() benchState { return benchState{} })
	r.OnRaw("item:changed", func(s benchState, _ eventstore.Event) benchState {
		s.N++
		return s
	})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		res, err := reducer.ReduceStream(ctx, s, r, "bench", reducer.ReadOptions{IgnoreSnapshot: true})
		if err != nil || res.Version != n {
			b.Fatalf("reduce: %v, %d", err, res.Version)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}

// stripped clears the fields the store assigns on Append.
func stripped(events []eventstore.Event) []eventstore.Event {
	out := make([]eventstore.Event, len(events))
	for i, e := range events {
		out[i] = eventstore.Event{Type: e.Type, Data: e.Data}
	}
	return out
}
