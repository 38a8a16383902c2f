package hub_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/protocol"
)

// TestReviewReadersIndexEmptiesAsConnectionsEnd: while one connection
// keeps the tenant's recent log, connections of every kind of scope come
// and go (live ones, ones closed during their catch-up, before any Live,
// ones dropped without a close frame, a 10,000-prefix pull set, overlapping
// token prefixes): once they have ended, the readers index holds the one
// connection left and nothing else.
func TestReviewReadersIndexEmptiesAsConnectionsEnd(t *testing.T) {
	h := memHarness(t, nil)
	store := h.stores.must(t, "acme")
	seed(t, store, newEvents(3000, "task/1")) // a backlog, for catch-ups to be cut
	keeper := connect(t, h, token(t, "acme"), 0, "keep/")
	keeper.catchUp()

	wide := make([]string, protocol.MaxPullPrefixes)
	for i := range wide {
		wide[i] = fmt.Sprintf("w/%d/", i)
	}
	type kind struct {
		token, pull []string
	}
	kinds := []kind{
		{},
		{token: []string{"a/", "a/b", "a/"}},
		{pull: []string{"é/", "é"}},
		{token: []string{"task/"}, pull: wide},
		{pull: wide},
	}
	for round := range 3 {
		for i, k := range kinds {
			c := connect(t, h, token(t, "acme", k.token...), 0, k.pull...)
			switch (round + i) % 3 {
			case 0: // live, then gone with a close frame
				c.catchUp()
				_ = c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
				_ = c.ws.Close()
			case 1: // live, then dropped
				c.catchUp()
				_ = c.ws.Close()
			case 2: // dropped during its catch-up
				_, err := c.recv()
				require.NoError(t, err)
				_ = c.ws.Close()
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, entries, ok := h.srv.ReviewReaders("acme")
		require.True(t, ok, "the keeper holds the log")
		if all == 0 && entries == 1 {
			break
		}
		require.True(t, time.Now().Before(deadline), "index: %d reading all, %d prefix entries; want 0 and 1 (the keeper's)", all, entries)
		time.Sleep(10 * time.Millisecond)
	}
	_ = keeper.ws.Close()
}
