package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// Live events reach readers from the node's recent log (pushes on this
// node) or from the store (anything else); either way every reader gets
// the ledger exactly as the store holds it, gap-free and in hub order,
// while two clients push concurrently.
func TestLiveEventsEqualTheLedger(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.open(t), nil)
			readers := []*client{connect(t, h, token(t, "acme"), 0), connect(t, h, token(t, "acme", "task/"), 0)}
			for _, r := range readers {
				r.catchUp()
			}
			p1, p2 := connect(t, h, token(t, "acme"), 0), connect(t, h, token(t, "acme"), 0)
			odd := newEvent("task/odd")
			odd.Schema, odd.Meta = 0, nil
			odd.Data = json.RawMessage(" { \"é\" : [ 1 , \"<&>\" ] } ")
			const batches, size = 6, 30
			for i := range batches {
				e1 := newEvents(size, fmt.Sprint("task/", i))
				e2 := newEvents(size, fmt.Sprint("note/", i))
				if i == 2 {
					e1[3] = odd
				}
				p1.send(&protocol.Push{Batch: fmt.Sprint("a", i), Events: wire(e1)})
				p2.send(&protocol.Push{Batch: fmt.Sprint("b", i), Events: wire(e2)})
			}
			for _, p := range []*client{p1, p2} {
				for range batches {
					p.until(func(m protocol.Message) bool { _, ok := m.(*protocol.Ack); return ok })
				}
			}

			var ledger []eventstore.Event
			for e, err := range h.stores.must(t, "acme").ReadAll(context.Background(), 0, 0) {
				require.NoError(t, err)
				e.HubPosition, e.Position, e.Hydrated, e.Outdated, e.Rejected = e.Position, 0, false, false, false
				ledger = append(ledger, e)
			}
			require.Len(t, ledger, 2*batches*size)
			var tasks []eventstore.Event
			for _, e := range ledger {
				if e.Stream[:5] == "task/" {
					tasks = append(tasks, e)
				}
			}
			for i, want := range [][]eventstore.Event{ledger, tasks} {
				r := readers[i]
				for r.cursor < int64(len(ledger)) { // past the events outside its scope too
					_, err := r.recv()
					require.NoError(t, err)
				}
				require.Equal(t, want, r.pulled)
				require.Equal(t, int64(len(ledger)), r.cursor)
			}
			for _, p := range []*client{p1, p2} {
				p.waitPulled(len(ledger))
				require.Equal(t, ledger, p.pulled)
			}
		})
	}
}
