package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/postgres"
)

// Example opens the hub's store of one tenant, appends an event, writes a
// read model in the same transaction as a checkpoint, and follows the
// ledger. It needs a PostgreSQL server (FERRY_TEST_POSTGRES_URL), so it has
// no Output line: go test compiles it but does not run it.
func Example() {
	ctx := context.Background()
	db, err := postgres.Open(ctx, os.Getenv("FERRY_TEST_POSTGRES_URL"), postgres.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	store, err := db.Store("acme", eventstore.Config{}) // Origin defaults to "hub"
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	events, err := store.Append(ctx, eventstore.Write{
		Stream: "task-1",
		Expect: eventstore.NoStream,
		Events: []eventstore.Event{{Type: "task:created", Data: json.RawMessage(`{"title":"Ship it"}`)}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored at position", events[0].Position, "= hub position", events[0].HubPosition)

	// A read model in the same database commits with its checkpoint.
	err = store.Update(ctx, func(tx eventstore.Tx) error {
		ptx := tx.(*postgres.Tx)
		pgx := ptx.Pgx()
		if _, err := pgx.Exec(ctx, `CREATE TABLE IF NOT EXISTS task_count (tenant text PRIMARY KEY, n bigint)`); err != nil {
			return err
		}
		if _, err := pgx.Exec(ctx, `INSERT INTO task_count VALUES ($1, 1)
ON CONFLICT (tenant) DO UPDATE SET n = task_count.n + 1`, store.Tenant()); err != nil {
			return err
		}
		return ptx.SetCheckpoint(ctx, "task_count", events[0].Position)
	})
	if err != nil {
		log.Fatal(err)
	}

	// Follow the ledger: read what is there, then wait for more (a commit on
	// any syncd node sharing the database wakes Wait).
	var cursor int64
	for e, err := range store.ReadAll(ctx, cursor, 100) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Position, e.Stream, e.Type)
		cursor = e.Position
	}
	waitCtx, cancel := context.WithTimeout(ctx, 0)
	defer cancel()
	if _, err := store.Wait(waitCtx, cursor); err != nil {
		fmt.Println("nothing new yet")
	}
}
