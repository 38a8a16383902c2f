package hub_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

func TestCatchUpInBatchesThenLive(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			const backlog, batch = 2345, 100
			h := newHarness(t, b.open(t), func(c *hub.Config) { c.Limits.MaxEventsPerBatch = batch; c.SendQueue = 4 })
			seed(t, h.stores.must(t, "acme"), newEvents(backlog, "task/1"))

			c := connect(t, h, token(t, "acme"), 0)
			assert.Equal(t, int64(backlog), c.welcome.Head)
			assert.Equal(t, batch, c.welcome.Limits.MaxEventsPerBatch)
			c.catchUp()
			require.Len(t, c.pulled, backlog)
			requireHubOrder(t, c.pulled, 0)
			n := 0
			for _, m := range c.msgs {
				if ev, ok := m.(*protocol.Events); ok {
					n++
					assert.LessOrEqual(t, len(ev.Events), batch)
				}
			}
			assert.GreaterOrEqual(t, n, backlog/batch)
			last := c.msgs[len(c.msgs)-1].(*protocol.CaughtUp)
			assert.Equal(t, int64(backlog), last.Head)

			// Live: another device pushes; this one receives it.
			other := connect(t, h, token(t, "acme"), int64(backlog))
			other.catchUp()
			assert.Empty(t, other.pulled)
			pushed := newEvents(3, "task/2")
			other.push("b1", pushed...)
			c.waitPulled(backlog + 3)
			requireHubOrder(t, c.pulled, 0)
			for i, e := range pushed {
				assert.Equal(t, e.ID, c.pulled[backlog+i].ID)
			}
			_, isLive := c.msgs[len(c.msgs)-1].(*protocol.Live)
			assert.True(t, isLive)

			// Resume from a cursor in the middle: no full resync.
			r := connect(t, h, token(t, "acme"), 2000)
			r.catchUp()
			require.Len(t, r.pulled, backlog+3-2000)
			requireHubOrder(t, r.pulled, 2000)
		})
	}
}

func TestPullScope(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.open(t), func(c *hub.Config) { c.Limits.MaxEventsPerBatch = 10 })
			s := h.stores.must(t, "acme")
			var all []eventstore.Event
			for i := range 60 {
				stream := "task/1"
				switch i % 3 {
				case 1:
					stream = "note/1"
				case 2:
					stream = "secret/1"
				}
				all = append(all, newEvent(stream))
			}
			// A long tail of invisible events: the cursor still reaches the head.
			all = append(all, newEvents(100, "secret/2")...)
			seed(t, s, all)

			c := connect(t, h, token(t, "acme", "task/", "note/"), 0)
			assert.Equal(t, []string{"task/", "note/"}, c.welcome.Streams)
			c.catchUp()
			require.Len(t, c.pulled, 40)
			for _, e := range c.pulled {
				assert.NotContains(t, e.Stream, "secret")
			}
			assert.Equal(t, int64(160), c.cursor)
			assert.Equal(t, int64(160), c.msgs[len(c.msgs)-1].(*protocol.CaughtUp).Head)

			// Hello narrows further, within the token's scope.
			n := connect(t, h, token(t, "acme", "task/", "note/"), 0, "note/", "secret/")
			n.catchUp()
			require.Len(t, n.pulled, 20)
			for _, e := range n.pulled {
				assert.Equal(t, "note/1", e.Stream)
			}

			// Live events are filtered the same way.
			w := connect(t, h, token(t, "acme"), 160)
			w.catchUp()
			w.push("b1", newEvent("secret/3"), newEvent("task/9"))
			c.waitPulled(41)
			assert.Equal(t, "task/9", c.pulled[40].Stream)
			assert.Equal(t, int64(162), c.pulled[40].HubPosition)
		})
	}
}

func TestManyClientsLive(t *testing.T) {
	h := memHarness(t, nil)
	var cs []*client
	for range 5 {
		c := connect(t, h, token(t, "acme"), 0)
		c.catchUp()
		cs = append(cs, c)
	}
	for i, c := range cs {
		c.push(fmt.Sprint("b", i), newEvents(10, fmt.Sprint("task/", i))...)
	}
	for _, c := range cs {
		c.waitPulled(50)
		requireHubOrder(t, c.pulled, 0)
	}
}
