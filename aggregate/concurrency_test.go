package aggregate_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/reducer"
)

// Counter records every command applied to it by a unique token, and the
// sequence number each command computed from the state it saw: a
// read-modify-write that a lost update would show as a repeated number.
type Counter struct {
	aggregate.Root
	Tokens []string `json:"tokens"`
	Seqs   []int    `json:"seqs"`
}

// Applied is the payload of counter:applied.
type Applied struct {
	Token string `json:"token"`
	Seq   int    `json:"seq"`
}

func newCounterReducer() *reducer.Reducer[*Counter] {
	r := reducer.New("counter", func() *Counter { return &Counter{} })
	reducer.On(r, "counter:applied", func(c *Counter, _ eventstore.Event, d Applied) *Counter {
		c.Tokens = append(c.Tokens, d.Token)
		c.Seqs = append(c.Seqs, d.Seq)
		return c
	})
	return r
}

func apply(c *Counter, token string) error {
	return c.Raise("counter:applied", Applied{Token: token, Seq: len(c.Tokens) + 1})
}

// TestNoLostUpdates runs commands from many goroutines against one
// aggregate. Every command that succeeds must appear in the final state
// exactly once, every command that gives up on a conflict must not appear,
// and the stream's version must equal the number of successes.
func TestNoLostUpdates(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			store := b.open(t, eventstore.Config{})
			// snapshots every 7 events, so loads run from snapshots too
			repo := aggregate.NewRepository(store, newCounterReducer(),
				aggregate.WithRetries(1000), aggregate.WithSnapshotEvery(7))

			workers, perWorker := 8, 25
			if b.name != "memory" {
				workers, perWorker = 6, 10 // every commit is a disk transaction
			}
			var (
				runs      atomic.Int64
				mu        sync.Mutex
				succeeded = map[string]bool{}
				gaveUp    = map[string]bool{}
				wg        sync.WaitGroup
			)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perWorker {
						token := fmt.Sprintf("w%d-%d", w, i)
						_, err := aggregate.Execute(ctx, repo, "counter-1", func(c *Counter, tok string) error {
							runs.Add(1)
							return apply(c, tok)
						}, token)
						mu.Lock()
						switch {
						case err == nil:
							succeeded[token] = true
						case errors.Is(err, eventstore.ErrConcurrency):
							gaveUp[token] = true
						default:
							t.Errorf("command %s: %v", token, err)
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			require.Equal(t, workers*perWorker, len(succeeded)+len(gaveUp))

			final, err := repo.Load(ctx, "counter-1")
			require.NoError(t, err)
			count := map[string]int{}
			for _, tok := range final.Tokens {
				count[tok]++
			}
			for tok := range succeeded {
				assert.Equal(t, 1, count[tok], "command %s applied %d times", tok, count[tok])
			}
			for tok := range gaveUp {
				assert.Zero(t, count[tok], "abandoned command %s was applied", tok)
			}
			assert.Len(t, final.Tokens, len(succeeded))
			for i, seq := range final.Seqs {
				require.Equal(t, i+1, seq, "event %d was decided on stale state (lost update)", i)
			}
			v, err := store.StreamVersion(ctx, "counter-1")
			require.NoError(t, err)
			assert.Equal(t, int64(len(succeeded)), v)
			assert.Equal(t, v, final.Version())

			// and the same state without snapshots
			require.NoError(t, store.DeleteSnapshot(ctx, "", "counter-1"))
			again, err := repo.Load(ctx, "counter-1")
			require.NoError(t, err)
			assert.Equal(t, final.Tokens, again.Tokens)
			t.Logf("%d commands succeeded, %d gave up, %d runs (%d retries after conflicts)",
				len(succeeded), len(gaveUp), runs.Load(), runs.Load()-int64(len(succeeded)+len(gaveUp)))
		})
	}
}
