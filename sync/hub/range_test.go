package hub_test

import (
	"fmt"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// digestOf returns the digest of events (as the hub stored them, Position
// being the hub position) on streams with prefix, after from and up to to.
func digestOf(events []eventstore.Event, prefix string, from, to int64) string {
	var d eventstore.Digest
	for _, e := range events {
		if e.Position > from && e.Position <= to && len(e.Stream) >= len(prefix) && e.Stream[:len(prefix)] == prefix {
			d.Add(e, e.Position)
		}
	}
	return d.String()
}

// On every hub backend: CaughtUp carries the digest of the client's scope
// up to the head, from the cache of prefix digests when the client resumes;
// a range read with Parts answers the parts' digests in Welcome, and one
// without streams exactly the range's events of the scope; both then close.
func TestDigestsAndRangeReads(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			stores := b.open(t)
			h := newHarness(t, stores, nil)
			store := stores.must(t, "acme")
			var events []eventstore.Event
			for i := range 5 {
				events = append(events, newEvents(700, fmt.Sprintf("list%d/x", i%2))...)
			}
			seed(t, store, events)
			var all []eventstore.Event
			for e, err := range store.ReadAll(t.Context(), 0, 0) {
				require.NoError(t, err)
				all = append(all, e)
			}
			headPos := all[len(all)-1].Position

			tok := token(t, "acme")
			for _, tc := range []struct {
				cursor int64
				prefix string
			}{{0, ""}, {1500, ""}, {1500, ""}, {2100, "list1/"}, {headPos, ""}} {
				var streams []string
				if tc.prefix != "" {
					streams = []string{tc.prefix}
				}
				c := connect(t, h, tok, tc.cursor, streams...)
				m := c.until(func(m protocol.Message) bool { _, ok := m.(*protocol.CaughtUp); return ok }).(*protocol.CaughtUp)
				assert.Equal(t, headPos, m.Head)
				assert.Equal(t, digestOf(all, tc.prefix, 0, headPos), m.Digest, "cursor %d scope %q", tc.cursor, tc.prefix)
			}

			// Digests of 7 parts of (100, 3000] of list0/.
			c := connectWith(t, h, tok, &protocol.Hello{Versions: protocol.Versions(), Client: "probe", Cursor: 100, Until: 3000, Parts: 7, Streams: []string{"list0/"}})
			require.Len(t, c.welcome.Digests, 7)
			width := int64((2900 + 6) / 7)
			for i, d := range c.welcome.Digests {
				from := 100 + int64(i)*width
				assert.Equal(t, digestOf(all, "list0/", from, min(from+width, 3000)), d, "part %d", i)
			}
			code, _ := c.closed()
			assert.Equal(t, websocket.CloseNormalClosure, code)

			// The events of (1000, 1400] of list1/.
			c = connectWith(t, h, tok, &protocol.Hello{Versions: protocol.Versions(), Client: "fetch", Cursor: 1000, Until: 1400, Streams: []string{"list1/"}})
			m := c.until(func(m protocol.Message) bool { _, ok := m.(*protocol.CaughtUp); return ok }).(*protocol.CaughtUp)
			assert.EqualValues(t, 1400, m.Head)
			var want []string
			for _, e := range all {
				if e.Position > 1000 && e.Position <= 1400 && e.Stream[:6] == "list1/" {
					want = append(want, e.ID)
				}
			}
			require.NotEmpty(t, want)
			var got []string
			for _, e := range c.pulled {
				got = append(got, e.ID)
			}
			assert.Equal(t, want, got)
			code, _ = c.closed()
			assert.Equal(t, websocket.CloseNormalClosure, code)

			// A version-2 client gets no digest, and its range fields are
			// ignored.
			c = connectWith(t, h, tok, &protocol.Hello{Versions: []int{2}, Client: "old", Cursor: 0, Until: 10, Parts: 2})
			assert.Empty(t, c.welcome.Digests)
			m = c.until(func(m protocol.Message) bool { _, ok := m.(*protocol.CaughtUp); return ok }).(*protocol.CaughtUp)
			assert.Empty(t, m.Digest)
			assert.Equal(t, headPos, m.Head)
		})
	}
}
