package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// TestGapFreeLedger is the DESIGN.md TRAP: many writers on two nodes
// (appends and inserts of mixed batch sizes, inserts re-sending a stored
// event, some transactions rolled back) while readers
// follow ReadAll+Wait. Every reader must see positions 1..N exactly once, in
// order, with no gap, and exactly the events that committed.
func TestGapFreeLedger(t *testing.T) { bothPaths(t, testGapFreeLedger) }

func testGapFreeLedger(t *testing.T) {
	const (
		writers = 8
		calls   = 200
	)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	schema := testSchema(t)
	nodes := []*DB{openDB(t, schema, Options{}), openDB(t, schema, Options{})}
	tenant := newTenant(t)
	stores := []*Store{openStore(t, nodes[0], tenant, eventstore.Config{}), openStore(t, nodes[1], tenant, eventstore.Config{})}

	var (
		mu        sync.Mutex
		committed = map[string]bool{}
		total     int
	)
	errRollback := errors.New("rollback")
	batch := func(w, c int) []eventstore.Event {
		events := make([]eventstore.Event, 1+(w*7+c)%5) // 1..5 events
		for i := range events {
			events[i] = ev("t", `{}`)
		}
		return events
	}
	// Every writer's batch sizes are fixed, so N is known up front.
	for w := range writers {
		for c := range calls {
			if c%10 != 9 {
				total += len(batch(w, c))
			}
		}
	}

	readers := []int{0, 7} // unlimited and small pages
	seen := make([][]string, len(readers))
	var rwg sync.WaitGroup
	for r, limit := range readers {
		rwg.Go(func() {
			s := stores[1-r%2]
			var cursor int64
			for cursor < int64(total) {
				for e, err := range s.ReadAll(ctx, cursor, limit) {
					if !assert.NoError(t, err) {
						return
					}
					if !assert.Equal(t, cursor+1, e.Position, "reader %d: gap or disorder after %d", r, cursor) {
						return
					}
					cursor = e.Position
					seen[r] = append(seen[r], e.ID)
				}
				if cursor >= int64(total) {
					break
				}
				if _, err := s.Wait(ctx, cursor); !assert.NoError(t, err) {
					return
				}
			}
		})
	}

	var wwg sync.WaitGroup
	for w := range writers {
		wwg.Go(func() {
			s := stores[w%2]
			var resent []eventstore.Event // an event already stored, re-sent with the next insert
			for c := range calls {
				events := batch(w, c)
				var ids []string
				var err error
				switch {
				case c%10 == 9: // rolled back after taking positions
					err = s.Update(ctx, func(tx eventstore.Tx) error {
						if _, err := tx.Append(ctx, eventstore.Write{Stream: "s", Events: events}); err != nil {
							return err
						}
						return errRollback
					})
					if !assert.ErrorIs(t, err, errRollback) {
						return
					}
					continue
				case c%2 == 0:
					var out []eventstore.Event
					out, err = s.Append(ctx, eventstore.Write{Stream: "s", Events: events})
					for _, e := range out {
						ids = append(ids, e.ID)
					}
				default:
					clock := eventstore.NewClock()
					for i := range events {
						events[i].ID, events[i].Stream, events[i].Created, events[i].Origin = eventstore.NewID(), "s", clock.Now(), "dev"
						ids = append(ids, events[i].ID)
					}
					// Re-send a stored event in front: the new events
					// must still get contiguous positions.
					_, err = s.Insert(ctx, append(resent, events...)...)
					resent = events[len(events)-1:]
				}
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				for _, id := range ids {
					committed[id] = true
				}
				mu.Unlock()
			}
		})
	}
	wwg.Wait()
	rwg.Wait()

	require.Len(t, committed, total)
	for r := range readers {
		require.Len(t, seen[r], total, "reader %d", r)
		unique := map[string]bool{}
		for _, id := range seen[r] {
			assert.True(t, committed[id], "reader %d saw an event that did not commit", r)
			unique[id] = true
		}
		assert.Len(t, unique, total, "reader %d saw duplicates", r)
	}
	head, err := stores[0].Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(total), head)
	v, err := stores[1].StreamVersion(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, int64(total), v)
}
