package hub_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// reviewScope is a reader of TestReviewFanOutAcrossNodes: its token's
// prefixes and its pull scope.
type reviewScope struct {
	name        string
	token, pull []string
}

func (s reviewScope) reads(stream string) bool {
	match := func(ps []string) bool {
		if len(ps) == 0 {
			return true
		}
		for _, p := range ps {
			if strings.HasPrefix(stream, p) {
				return true
			}
		}
		return false
	}
	return match(s.token) && match(s.pull)
}

// TestReviewFanOutAcrossNodes: two hub nodes on one ledger (a shared
// memory store, and PostgreSQL when configured), readers on both with
// overlapping token and pull prefixes, multibyte stream names and a pull
// set of 10,000 prefixes, and concurrent pushes through both nodes. With
// the flush that moves skipped cursors put off, every reader must still get
// exactly the events of its scope, in hub order, each once, promptly: a
// commit it is concerned with must resume it (no lost wake-up), whether it
// came through its own node or the other.
func TestReviewFanOutAcrossNodes(t *testing.T) {
	defer hub.SetSkipFlush(time.Hour)()
	type pair struct {
		name string
		open func(t *testing.T) (a, b *harness)
	}
	pairs := []pair{{"memory", func(t *testing.T) (*harness, *harness) {
		store := memory.New(eventstore.Config{Origin: "hub"})
		t.Cleanup(func() { _ = store.Close() })
		node := func(id string) *harness {
			return newHarness(t, nil, func(c *hub.Config) {
				c.NodeID = id
				c.Ledgers = hub.LedgerFunc(func(context.Context, string) (hub.Ledger, error) { return store, nil })
			})
		}
		return node("a"), node("b")
	}}}
	if testing.Short() {
		pairs = pairs[:1]
	} else {
		pairs = append(pairs, pair{"postgres", func(t *testing.T) (*harness, *harness) {
			schema := testSchema(t)
			node := func(id string) *harness {
				db := openPostgres(t, schema)
				stores := newTenantStores(t, func(tenant string) (eventstore.Store, error) {
					return db.Store(tenant, eventstore.Config{})
				})
				return newHarness(t, stores, func(c *hub.Config) { c.NodeID = id })
			}
			return node("a"), node("b")
		}})
	}
	wide := make([]string, protocol.MaxPullPrefixes)
	for i := range wide {
		wide[i] = fmt.Sprintf("z/%d/", i)
	}
	wide[0] = "日本/" // among thousands
	scopes := []reviewScope{
		{name: "all"},
		{name: "é-pull", pull: []string{"é/"}},
		{name: "é-token", token: []string{"é"}},
		{name: "e-pull", pull: []string{"e"}},
		{name: "ja", pull: []string{"日本"}},
		{name: "ja-slash", token: []string{"日"}, pull: []string{"日本/"}},
		{name: "overlap-token", token: []string{"a/", "a/b"}},
		{name: "overlap-pull", pull: []string{"a/b", "a/", "a/b/1"}},
		{name: "token-narrower", token: []string{"a/b/"}, pull: []string{"a/"}},
		{name: "pull-narrower", token: []string{"a/"}, pull: []string{"a/c"}},
		{name: "disjoint", token: []string{"a/"}, pull: []string{"é/"}},
		{name: "wide", pull: wide},
		{name: "wide-token", token: []string{"z/"}, pull: wide},
	}
	streams := []string{"é/1", "é", "éa", "e/1", "a/b/1", "a/bc", "a/c", "a/c/é", "日本/x", "日本",
		"日本語", "z/5000/q", "z/50000", "z/9999/", "other", "\u00e9/2"}

	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			a, b := p.open(t)
			tok := token(t, "acme")
			readers := make([]*client, 0, 2*len(scopes))
			owners := make([]reviewScope, 0, 2*len(scopes))
			for _, h := range []*harness{a, b} {
				for _, s := range scopes {
					c := connect(t, h, token(t, "acme", s.token...), 0, s.pull...)
					readers = append(readers, c)
					owners = append(owners, s)
				}
			}
			pushers := []*client{connect(t, a, tok, 0, "none/"), connect(t, b, tok, 0, "none/")}
			for _, c := range append(slices.Clone(readers), pushers...) {
				c.catchUp()
			}

			// Concurrent pushes through both nodes: single events, so
			// that the readers park between most commits.
			const perPusher = 60
			type pushed struct {
				id     string
				stream string
				pos    int64
			}
			var mu sync.Mutex
			var all []pushed
			// First through node b alone, one push at a time: node a's
			// watcher reads each commit (readCommitted) and resumes the
			// readers it concerns.
			rng := rand.New(rand.NewPCG(9, 9))
			for k := range 40 {
				n := 1 + rng.IntN(3)
				events := make([]eventstore.Event, n)
				for j := range events {
					events[j] = newEvent(streams[rng.IntN(len(streams))])
				}
				ack := pushers[1].push(fmt.Sprint("solo-", k), events...)
				for j, r := range ack.Results {
					require.Empty(t, r.Code)
					all = append(all, pushed{events[j].ID, events[j].Stream, r.HubPosition})
				}
			}
			// Then through both, pipelined.
			var wg sync.WaitGroup
			for i, c := range pushers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(i), 7))
					batches := make([][]eventstore.Event, perPusher)
					for k := range batches { // pipelined: the node stores them while the other does
						n := 1 + rng.IntN(3)
						events := make([]eventstore.Event, n)
						for j := range events {
							events[j] = newEvent(streams[rng.IntN(len(streams))])
						}
						batches[k] = events
						c.send(&protocol.Push{Batch: fmt.Sprint(i, "-", k), Events: wire(events)})
					}
					for k := range batches {
						ack := c.until(func(m protocol.Message) bool { _, ok := m.(*protocol.Ack); return ok }).(*protocol.Ack)
						events := batches[k]
						mu.Lock()
						for j, r := range ack.Results {
							if r.Code != "" || r.Duplicate {
								t.Errorf("push %d-%d: %+v", i, k, r)
							}
							all = append(all, pushed{events[j].ID, events[j].Stream, r.HubPosition})
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			slices.SortFunc(all, func(x, y pushed) int { return int(x.pos - y.pos) })

			// Each pusher's cursor passes its acked positions without the
			// flush (its pull scope takes none of them).
			for i, c := range pushers {
				var acked int64
				for _, m := range c.msgs {
					if a, ok := m.(*protocol.Ack); ok {
						for _, r := range a.Results {
							acked = max(acked, r.HubPosition)
						}
					}
				}
				deadline := time.AfterFunc(5*time.Second, func() { _ = c.ws.Close() })
				for c.cursor < acked {
					_, err := c.recv()
					require.NoError(t, err, "pusher %d: cursor %d, acked %d", i, c.cursor, acked)
				}
				deadline.Stop()
			}

			for i, c := range readers {
				s := owners[i]
				want := []string{}
				for _, e := range all {
					if s.reads(e.stream) {
						want = append(want, e.id)
					}
				}
				done := make(chan struct{})
				timer := time.AfterFunc(5*time.Second, func() {
					select {
					case <-done:
					default:
						_ = c.ws.Close() // fails the read below
					}
				})
				for len(c.pulled) < len(want) {
					_, err := c.recv()
					require.NoError(t, err, "reader %s on node %d: %d of %d events after 5 s (lost wake-up?)",
						s.name, i/len(scopes), len(c.pulled), len(want))
				}
				close(done)
				timer.Stop()
				got := make([]string, len(c.pulled))
				for j, e := range c.pulled {
					got[j] = e.ID
					if j > 0 {
						require.Greater(t, e.HubPosition, c.pulled[j-1].HubPosition, "reader %s", s.name)
					}
				}
				require.Equal(t, want, got, "reader %s on node %d", s.name, i/len(scopes))
			}
		})
	}
}
