package reducer_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/reducer"
)

// Task is the state the tests fold.
type Task struct {
	Title   string `json:"title"`
	Done    bool   `json:"done"`
	Renames int    `json:"renames"`
}

// TaskCreated is the current (v1) payload of task:created in most tests.
type TaskCreated struct {
	Title string `json:"title"`
}

// TaskRenamed is the payload of task:renamed.
type TaskRenamed struct {
	Title string `json:"title"`
}

// newTasks returns a task reducer with the given options.
func newTasks(opts ...reducer.Option) *reducer.Reducer[Task] {
	r := reducer.New("task", func() Task { return Task{} }, opts...)
	reducer.On(r, "task:created", func(t Task, _ eventstore.Event, d TaskCreated) Task {
		t.Title = d.Title
		return t
	})
	reducer.On(r, "task:renamed", func(t Task, _ eventstore.Event, d TaskRenamed) Task {
		t.Title = d.Title
		t.Renames++
		return t
	})
	r.OnRaw("task:completed", func(t Task, _ eventstore.Event) Task {
		t.Done = true
		return t
	})
	return r
}

// ev builds an event with a JSON-encoded payload.
func ev(typ string, data any) eventstore.Event {
	b, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	return eventstore.Event{ID: eventstore.NewID(), Type: typ, Data: b, Schema: 1}
}

// seq turns events into the iterator shape stores yield.
func seq(events ...eventstore.Event) func(func(eventstore.Event, error) bool) {
	return func(yield func(eventstore.Event, error) bool) {
		for _, e := range events {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// newStore returns an empty memory store closed at cleanup.
func newStore(t testing.TB) *memory.Store {
	s := memory.New(eventstore.Config{Origin: "test"})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// base is a fixed millisecond a little in the past, so inserted events are
// never rejected for clock drift.
var base = time.Now().Add(-time.Hour).UnixMilli()

// at returns the timestamp i milliseconds after base.
func at(i int) eventstore.Timestamp { return eventstore.MakeTimestamp(base+int64(i), 0) }

// insert stores events as if they arrived through sync, with the given
// Created timestamps (so tests control the order).
func insert(t testing.TB, s eventstore.Store, stream string, events ...eventstore.Event) []eventstore.Event {
	t.Helper()
	for i := range events {
		events[i].Stream = stream
		if events[i].Origin == "" {
			events[i].Origin = "remote"
		}
		require.NotZero(t, events[i].Created, "test events need Created")
	}
	_, err := s.Insert(context.Background(), events...)
	require.NoError(t, err)
	return events
}

// created returns e with Created set to at(i).
func created(e eventstore.Event, i int) eventstore.Event {
	e.Created = at(i)
	return e
}
