package synctest_test

import (
	"context"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/sync/synctest"
)

// Example reads a store's ledger and checks it: positions 1..n without a
// gap and no event stored twice.
func Example() {
	ctx := context.Background()
	s := memory.New(eventstore.Config{Origin: "dev-1"})
	defer s.Close()
	_, _ = s.Append(ctx, eventstore.Write{Stream: "task/1", Events: []eventstore.Event{
		{Type: "task:created", Data: []byte(`{"title":"milk"}`)},
		{Type: "task:renamed", Data: []byte(`{"title":"oat milk"}`)},
	}})

	events, err := synctest.ReadLedger(ctx, s)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(events), "events, ledger ok:", synctest.CheckLedger(events) == nil)
	// A replica that has not synced yet lacks hub positions.
	fmt.Println("in hub order:", synctest.CheckHubOrder(events) == nil)
	// Output:
	// 2 events, ledger ok: true
	// in hub order: false
}
