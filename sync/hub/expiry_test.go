package hub_test

import (
	"context"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// A token is checked at connect, and its expiry also ends the connection:
// a lapsed token stops receiving live events (the client reconnects with a
// fresh one).
func TestExpiredTokenEndsConnection(t *testing.T) {
	h := memHarness(t, nil)
	tok, err := hub.IssueToken(testSecret, hub.Claims{Tenant: "acme", Subject: "device-1", Expiry: time.Now().Add(time.Second)})
	require.NoError(t, err)
	c := connect(t, h, tok, 0)
	c.catchUp()
	code, perr := c.closed() // bounded by the client's read deadline (ioTimeout)
	assert.Equal(t, protocol.CodeUnauthorized.CloseCode(), code)
	require.NotNil(t, perr)
	assert.Equal(t, protocol.CodeUnauthorized, perr.Code)
}

// Once the hub has closed a connection, a client that keeps sending (here
// protocol pongs) and never reads cannot hold it open: Shutdown completes.
func TestClosedConnectionIgnoresChattyClient(t *testing.T) {
	h := memHarness(t, nil)
	c := connect(t, h, token(t, "acme"), 0)
	c.catchUp()

	stop := make(chan struct{})
	chatted := make(chan struct{})
	go func() {
		defer close(chatted)
		frame, err := protocol.Encode(&protocol.Pong{Nonce: "x"})
		if err != nil {
			return
		}
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			_ = c.ws.SetWriteDeadline(time.Now().Add(time.Second))
			if c.ws.WriteMessage(websocket.TextMessage, frame) != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-chatted }()

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	assert.NoError(t, h.srv.Shutdown(ctx), "a chatty client kept a closed connection open")
}
