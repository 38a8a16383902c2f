package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
)

// Example shows local appends with optimistic concurrency, a late event from
// another device that sorts before them, and a read in (Created, ID) order.
func Example() {
	ctx := context.Background()
	reg := eventstore.NewRegistry(
		eventstore.EventType{Name: "task:created", Data: eventstore.Required("title")},
		eventstore.EventType{Name: "task:renamed", Data: eventstore.Required("title")},
	)
	store := memory.New(eventstore.Config{Registry: reg, Origin: "laptop"})
	defer store.Close()

	// A local command: the stream must not exist yet.
	_, err := store.Append(ctx, eventstore.Write{
		Stream: "task-1",
		Expect: eventstore.NoStream,
		Events: []eventstore.Event{{Type: "task:created", Data: json.RawMessage(`{"title":"buy milk"}`)}},
	})
	if err != nil {
		panic(err)
	}

	// A second writer that also expected an empty stream loses.
	_, err = store.Append(ctx, eventstore.Write{
		Stream: "task-1",
		Expect: eventstore.NoStream,
		Events: []eventstore.Event{{Type: "task:created", Data: json.RawMessage(`{"title":"other"}`)}},
	})
	var conflict *eventstore.ConflictError
	fmt.Println("conflict:", errors.Is(err, eventstore.ErrConcurrency), errors.As(err, &conflict) && conflict.Actual == 1)

	// An unregistered type is refused and stores nothing.
	_, err = store.Append(ctx, eventstore.Write{Stream: "task-1", Events: []eventstore.Event{{Type: "task:exploded"}}})
	fmt.Println("unknown type:", errors.Is(err, eventstore.ErrUnknownEventType))

	// A rename made offline on the phone arrives through sync. It was created
	// at an earlier HLC time than the local event, so it sorts first.
	res, err := store.Insert(ctx, eventstore.Event{
		ID:      eventstore.NewID(),
		Stream:  "task-1",
		Type:    "task:renamed",
		Data:    json.RawMessage(`{"title":"buy oat milk"}`),
		Created: eventstore.MakeTimestamp(1, 0),
		Origin:  "phone",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("inserted:", res[0].Inserted, "outdated:", res[0].Event.Outdated)

	for e, err := range store.ReadStream(ctx, "task-1", eventstore.ReadOptions{}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(e.Type, e.Origin, "hydrated:", e.Hydrated)
	}
	// Output:
	// conflict: true true
	// unknown type: true
	// inserted: true outdated: false
	// task:renamed phone hydrated: true
	// task:created laptop hydrated: false
}
