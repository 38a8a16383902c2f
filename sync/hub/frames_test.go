package hub_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

func TestBadFramesCloseTheConnection(t *testing.T) {
	limits := protocol.Limits{MaxFrameBytes: 1 << 20, MaxEventsPerBatch: 20, MaxEventBytes: 4096}
	pushFrame := func(events ...eventstore.Event) []byte {
		f, err := protocol.Encode(&protocol.Push{Batch: "bad", Events: wire(events)})
		require.NoError(t, err)
		return f
	}
	big := newEvent("task/1")
	big.Data = []byte(`{"s":"` + strings.Repeat("x", 5000) + `"}`)
	withHub := newEvent("task/1")
	withHub.HubPosition = 7
	cases := []struct {
		name  string
		hello bool // send Hello first
		frame []byte
		close int
		code  protocol.Code // expected Error message; "" when none
	}{
		{"oversize frame", true, bytes.Repeat([]byte("x"), limits.MaxFrameBytes+1), websocket.CloseMessageTooBig, ""},
		{"malformed json", true, []byte(`{"v":1,"type":"push","body":{"batch":`), protocol.CloseProtocolViolation, protocol.CodeProtocolViolation},
		{"unknown type", true, []byte(`{"v":1,"type":"subscribe","body":{}}`), protocol.CloseProtocolViolation, protocol.CodeProtocolViolation},
		{"unsupported version", true, []byte(`{"v":99,"type":"push","body":{}}`), protocol.CloseUnsupportedVersion, protocol.CodeUnsupportedVersion},
		{"too many events", true, pushFrame(newEvents(21, "task/1")...), protocol.CloseTooManyEvents, protocol.CodeTooManyEvents},
		{"event too large", true, pushFrame(newEvent("task/1"), big), protocol.CloseEventTooLarge, protocol.CodeEventTooLarge},
		{"hub position in push", true, pushFrame(withHub), protocol.CloseInvalidEvent, protocol.CodeInvalidEvent},
		{"push before hello", false, pushFrame(newEvent("task/1")), protocol.CloseProtocolViolation, protocol.CodeProtocolViolation},
		{"hello twice", true, mustEncode(t, &protocol.Hello{Versions: []int{1}, Client: "x"}), protocol.CloseProtocolViolation, protocol.CodeProtocolViolation},
		{"server message", true, mustEncode(t, &protocol.CaughtUp{Head: 1}), protocol.CloseProtocolViolation, protocol.CodeProtocolViolation},
	}

	h := memHarness(t, func(c *hub.Config) { c.Limits = limits })
	bystander := connect(t, h, token(t, "acme"), 0)
	bystander.catchUp()
	store := h.stores.must(t, "acme")
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := head(t, store)
			var c *client
			if tc.hello {
				c = connect(t, h, token(t, "acme"), 0)
				c.catchUp()
			} else {
				ws, resp, err := dialRaw(h, http.Header{"Authorization": {"Bearer " + token(t, "acme")}})
				require.NoError(t, err)
				_ = resp.Body.Close()
				t.Cleanup(func() { _ = ws.Close() })
				c = &client{t: t, ws: ws}
			}
			c.sendRaw(tc.frame)
			code, perr := c.closed()
			assert.Equal(t, tc.close, code)
			if tc.code != "" {
				require.NotNil(t, perr)
				assert.Equal(t, tc.code, perr.Code)
				assert.False(t, perr.Resume)
			}
			mapped, ok := protocol.FromCloseCode(code)
			assert.True(t, ok)
			if tc.code != "" {
				assert.Equal(t, tc.code, mapped)
			}
			assert.Equal(t, before, head(t, store), "nothing stored")

			// Everyone else is still served.
			ack := bystander.push(fmt.Sprint("ok", i), newEvent("task/1"))
			assert.Equal(t, before+1, ack.Results[0].HubPosition)
		})
	}
}

func mustEncode(t *testing.T, m protocol.Message) []byte {
	t.Helper()
	f, err := protocol.Encode(m)
	require.NoError(t, err)
	return f
}

func TestUnsupportedHelloVersion(t *testing.T) {
	h := memHarness(t, nil)
	ws, resp, err := dialRaw(h, http.Header{"Authorization": {"Bearer " + token(t, "acme")}})
	require.NoError(t, err)
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	c := &client{t: t, ws: ws}
	c.send(&protocol.Hello{Versions: []int{7, 8}, Client: "future"})
	code, perr := c.closed()
	assert.Equal(t, protocol.CloseUnsupportedVersion, code)
	require.NotNil(t, perr)
	assert.Equal(t, protocol.CodeUnsupportedVersion, perr.Code)
}
