package memory_test

import (
	"context"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
)

func Example() {
	ctx := context.Background()
	store := memory.New(eventstore.Config{
		Registry: eventstore.NewRegistry(
			eventstore.EventType{Name: "task:created", Data: eventstore.Required("title")},
			eventstore.EventType{Name: "task:done"},
		),
	})
	defer store.Close()

	_, err := store.Append(ctx, eventstore.Write{
		Stream: "task-1",
		Expect: eventstore.NoStream,
		Events: []eventstore.Event{
			{Type: "task:created", Data: []byte(`{"title":"write docs"}`)},
			{Type: "task:done"},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// A second writer that expected an empty stream loses.
	_, err = store.Append(ctx, eventstore.Write{Stream: "task-1", Expect: eventstore.NoStream,
		Events: []eventstore.Event{{Type: "task:done"}}})
	fmt.Println("conflict:", err != nil)

	for e, err := range store.ReadStream(ctx, "task-1", eventstore.ReadOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Position, e.Type, string(e.Data))
	}
	// Output:
	// conflict: true
	// 1 task:created {"title":"write docs"}
	// 2 task:done {}
}
