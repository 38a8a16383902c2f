package projector_test

import (
	"context"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/projector"
)

type TaskCreated struct {
	Title string `json:"title"`
}

// Example wires a read model (On), an audit counter (All) and a side effect
// (Once) to a store, then shows that an event arriving through sync updates
// the read model without firing the side effect.
func Example() {
	ctx := context.Background()

	h := projector.NewHandlers()
	projector.On(h, "task:created", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d TaskCreated) error {
		// Read-model writes go through tx: they commit with the checkpoint.
		return eventstore.KeyValuesOf(tx).SetState(ctx, "titles/"+e.Stream, []byte(d.Title))
	})
	projector.Once(h, "task:created", "welcome-mail", func(ctx context.Context, eff projector.Effect, d TaskCreated) error {
		fmt.Printf("mail about %q (idempotency key = event id: %t)\n", d.Title, eff.Key == eff.Event.ID)
		return nil
	})

	// The outbox exists before the store: its Hook records pending effects
	// in the same transaction as each local append.
	effects, err := projector.NewEffects(h, projector.EffectOptions{})
	if err != nil {
		panic(err)
	}
	store := memory.New(eventstore.Config{OnAppend: effects.Hook})
	defer store.Close()
	effects.Attach(store)

	proj, err := projector.New("titles", store, projector.Options{Handlers: h})
	if err != nil {
		panic(err)
	}

	// A local command and an event from another device.
	_, _ = store.Append(ctx, eventstore.Write{Stream: "task-1", Events: []eventstore.Event{
		{Type: "task:created", Data: []byte(`{"title":"write docs"}`)},
	}})
	_, _ = store.Insert(ctx, eventstore.Event{ID: eventstore.NewID(), Stream: "task-2", Type: "task:created",
		Data: []byte(`{"title":"from my phone"}`), Created: eventstore.MakeTimestamp(1, 0), Origin: "phone"})

	// In an app: go proj.Run(ctx) and go effects.Run(ctx).
	pos, _ := proj.CatchUp(ctx)
	ran, _ := effects.RunDue(ctx)

	t1, _ := store.State(ctx, "titles/task-1")
	t2, _ := store.State(ctx, "titles/task-2")
	fmt.Println("projected to", pos, "effects run:", ran)
	fmt.Println(string(t1), "/", string(t2))
	// Output:
	// mail about "write docs" (idempotency key = event id: true)
	// projected to 2 effects run: 1
	// write docs / from my phone
}
