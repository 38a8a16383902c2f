package reducer_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/reducer"
)

// Example folds a task's events into its state, reads it as of an earlier
// version, and lifts an old event payload with an upcaster.
func Example() {
	ctx := context.Background()

	// The state and the event payloads.
	type Task struct {
		Title string
		Done  bool
	}
	type TaskCreated struct {
		Title string `json:"title"`
	}
	type TaskRenamed struct {
		Title string `json:"title"`
	}

	// task:created v1 had "name"; v2 calls it "title".
	upcasters := reducer.NewUpcasters()
	_ = upcasters.Register("task:created", 1, func(data json.RawMessage) (json.RawMessage, error) {
		var v1 struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(data, &v1); err != nil {
			return nil, err
		}
		return json.Marshal(TaskCreated{Title: v1.Name})
	})

	// The reducer: an initial state and one typed handler per event type.
	tasks := reducer.New("task", func() Task { return Task{} }, reducer.WithUpcasters(upcasters))
	reducer.On(tasks, "task:created", func(t Task, _ eventstore.Event, d TaskCreated) Task {
		t.Title = d.Title
		return t
	})
	reducer.On(tasks, "task:renamed", func(t Task, _ eventstore.Event, d TaskRenamed) Task {
		t.Title = d.Title
		return t
	})
	tasks.OnRaw("task:completed", func(t Task, _ eventstore.Event) Task {
		t.Done = true
		return t
	})

	store := memory.New(eventstore.Config{})
	defer store.Close()
	_, err := store.Append(ctx, eventstore.Write{Stream: "task-1", Expect: eventstore.NoStream, Events: []eventstore.Event{
		{Type: "task:created", Schema: 1, Data: json.RawMessage(`{"name":"buy milk"}`)},
		{Type: "task:renamed", Data: json.RawMessage(`{"title":"buy oat milk"}`)},
		{Type: "task:completed"},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}

	now, err := reducer.ReduceStream(ctx, store, tasks, "task-1", reducer.ReadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("now: %+v at version %d\n", now.State, now.Version)

	then, _ := reducer.ReduceStream(ctx, store, tasks, "task-1", reducer.ReadOptions{AsOfVersion: 1})
	fmt.Printf("at version 1: %+v\n", then.State)

	// Save a snapshot; the next fold reads only the events after it.
	saved, _ := reducer.SaveSnapshot(ctx, store, tasks, "task-1", now)
	again, _ := reducer.ReduceStream(ctx, store, tasks, "task-1", reducer.ReadOptions{})
	fmt.Println("snapshot saved:", saved, "events read:", again.EventsRead)

	// Output:
	// now: {Title:buy oat milk Done:true} at version 3
	// at version 1: {Title:buy milk Done:false}
	// snapshot saved: true events read: 0
}
