package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ferry-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	store, err := sqlite.Open(ctx, filepath.Join(dir, "app.db"), sqlite.Options{
		Config: eventstore.Config{Registry: eventstore.NewRegistry(
			eventstore.EventType{Name: "task:created", Data: eventstore.Required("title")},
			eventstore.EventType{Name: "task:done"},
		)},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	_, err = store.Append(ctx, eventstore.Write{
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

	// A read model in the same file commits atomically with the events.
	err = store.Update(ctx, func(tx eventstore.Tx) error {
		sqlTx := tx.(eventstore.SQLTx).SQL()
		if _, err := sqlTx.ExecContext(ctx, "CREATE TABLE open_tasks (stream TEXT PRIMARY KEY)"); err != nil {
			return err
		}
		if _, err := tx.Append(ctx, eventstore.Write{Stream: "task-2", Events: []eventstore.Event{
			{Type: "task:created", Data: []byte(`{"title":"ship it"}`)},
		}}); err != nil {
			return err
		}
		_, err := sqlTx.ExecContext(ctx, "INSERT INTO open_tasks VALUES ('task-2')")
		return err
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// A second writer that expected an empty stream loses.
	_, err = store.Append(ctx, eventstore.Write{Stream: "task-1", Expect: eventstore.NoStream,
		Events: []eventstore.Event{{Type: "task:done"}}})
	fmt.Println("conflict:", errors.Is(err, eventstore.ErrConcurrency))

	for e, err := range store.ReadAll(ctx, 0, 0) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Position, e.Stream, e.Type, string(e.Data))
	}
	// Output:
	// conflict: true
	// 1 task-1 task:created {"title":"write docs"}
	// 2 task-1 task:done {}
	// 3 task-2 task:created {"title":"ship it"}
}
