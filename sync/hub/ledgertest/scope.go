package ledgertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

var secret = []byte("ledgertest secret, 32 bytes long")

// testScope serves l through a hub and checks that a pull sends only the
// streams the token and the Hello allow, while the cursor still passes
// the events it skips, in catch-up and live; and that a push outside the
// token's scope stores nothing.
func testScope(t *testing.T, l hub.Ledger) {
	insert(t, l, newEvent("task/1", "dev-a"), newEvent("note/1", "dev-a"),
		newEvent("task/2", "dev-a"), newEvent("project/x", "dev-a"))
	srv, err := hub.New(hub.Config{Secret: secret,
		Ledgers: hub.LedgerFunc(func(context.Context, string) (hub.Ledger, error) { return l, nil })})
	require.NoError(t, err)
	web := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		web.Close()
	})
	url := "ws" + strings.TrimPrefix(web.URL, "http") + "/sync"

	tasks := dial(t, url, []string{"task/"}, nil)
	streams, cursor := tasks.pull(t, func(m protocol.Message) bool { _, ok := m.(*protocol.CaughtUp); return ok })
	assert.Equal(t, []string{"task/1", "task/2"}, streams)
	assert.Equal(t, int64(4), cursor)

	notes := dial(t, url, []string{"task/", "note/"}, []string{"note/"})
	streams, cursor = notes.pull(t, func(m protocol.Message) bool { _, ok := m.(*protocol.CaughtUp); return ok })
	assert.Equal(t, []string{"note/1"}, streams)
	assert.Equal(t, int64(4), cursor)

	// Live: committed by another writer, filtered the same way.
	insert(t, l, newEvent("note/2", "dev-b"), newEvent("project/y", "dev-b"), newEvent("task/3", "dev-b"))
	reached := func(m protocol.Message) bool { lv, ok := m.(*protocol.Live); return ok && lv.Cursor >= 7 }
	streams, cursor = tasks.pull(t, reached)
	assert.Equal(t, []string{"task/3"}, streams)
	assert.Equal(t, int64(7), cursor)
	streams, _ = notes.pull(t, reached)
	assert.Equal(t, []string{"note/2"}, streams)

	// A push outside the token's scope is refused and stores nothing.
	tasks.send(t, &protocol.Push{Batch: "b1", Events: []protocol.Event{protocol.FromStored(newEvent("note/3", "dev-a")), protocol.FromStored(newEvent("task/4", "dev-a"))}})
	var ack *protocol.Ack
	tasks.pull(t, func(m protocol.Message) bool { ack, _ = m.(*protocol.Ack); return ack != nil })
	require.Len(t, ack.Results, 2)
	assert.Equal(t, protocol.CodeForbiddenStream, ack.Results[0].Code)
	assert.Equal(t, int64(8), ack.Results[1].HubPosition)
	head, err := l.Head(ctxT(t))
	require.NoError(t, err)
	assert.Equal(t, int64(8), head)
}

// client is a bare protocol client.
type client struct{ ws *websocket.Conn }

// dial connects to url with a token limited to scope and says Hello from
// cursor 0, narrowed to streams, and reads the Welcome.
func dial(t *testing.T, url string, scope, streams []string) *client {
	tok, err := hub.IssueToken(secret, hub.Claims{Tenant: "acme", Subject: "dev", Streams: scope, Expiry: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	ws, resp, err := (&websocket.Dialer{HandshakeTimeout: timeout}).Dial(url, http.Header{"Authorization": {"Bearer " + tok}})
	if resp != nil {
		_ = resp.Body.Close()
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.Close() })
	c := &client{ws: ws}
	c.send(t, &protocol.Hello{Versions: []int{protocol.Version}, Client: "dev", Streams: streams})
	c.pull(t, func(m protocol.Message) bool { _, ok := m.(*protocol.Welcome); return ok })
	return c
}

func (c *client) send(t *testing.T, m protocol.Message) {
	frame, err := protocol.Encode(m)
	require.NoError(t, err)
	require.NoError(t, c.ws.WriteMessage(websocket.TextMessage, frame))
}

// pull reads messages until stop returns true for one, and returns the
// streams of the events received and the last cursor.
func (c *client) pull(t *testing.T, stop func(protocol.Message) bool) (streams []string, cursor int64) {
	for {
		require.NoError(t, c.ws.SetReadDeadline(time.Now().Add(timeout)))
		_, frame, err := c.ws.ReadMessage()
		require.NoError(t, err)
		m, err := protocol.Decode(frame, protocol.Limits{})
		require.NoError(t, err)
		switch m := m.(type) {
		case *protocol.Events:
			streams, cursor = appendStreams(streams, m.Events), m.Cursor
		case *protocol.Live:
			streams, cursor = appendStreams(streams, m.Events), m.Cursor
		case *protocol.Error:
			t.Fatalf("hub error: %v", m)
		}
		if stop(m) {
			return streams, cursor
		}
	}
}

func appendStreams(streams []string, events []protocol.Event) []string {
	for _, e := range events {
		streams = append(streams, e.Stream)
	}
	return streams
}
