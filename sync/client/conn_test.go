package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/sync/protocol"
)

// The reader decodes ahead of the session by at most maxQueuedBytes (plus
// the frame in hand), however fast the hub sends; every frame still
// arrives, in order, as the session takes them.
func TestReaderBoundsQueuedBytes(t *testing.T) {
	const frames = 36
	encoded := make([][]byte, frames)
	for i := range encoded {
		var events []protocol.Event
		for j := range 4 {
			events = append(events, protocol.Event{ID: eventstore.NewID(), Stream: "s", Type: "t", Schema: 1,
				Data: fmt.Appendf(nil, `{"pad":%q}`, strings.Repeat("x", 250_000)), Meta: []byte(`{}`), Created: 1, Origin: "o",
				HubPosition: int64(i*4 + j + 1)})
		}
		var err error
		encoded[i], err = protocol.Encode(&protocol.Events{Events: events, Cursor: int64(i*4 + 4)})
		require.NoError(t, err)
	}
	frameBytes := int64(len(encoded[0]))
	require.Greater(t, frameBytes*frames, int64(2*maxQueuedBytes), "the hub sends far more than the budget")

	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for _, f := range encoded {
			if ws.WriteMessage(websocket.TextMessage, f) != nil {
				return
			}
		}
		<-release
	}))
	defer srv.Close()
	defer close(release)

	store := memory.New(eventstore.Config{Origin: "dev"})
	defer store.Close()
	r, err := New(store, Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/sync"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := r.dial(ctx)
	require.NoError(t, err)
	defer c.close(websocket.CloseNormalClosure, "")

	require.Eventually(t, func() bool { return c.queued.Load() >= maxQueuedBytes }, 30*time.Second, time.Millisecond)
	// The reader is now held back; give it every chance to overrun.
	time.Sleep(200 * time.Millisecond)
	assert.LessOrEqual(t, c.queued.Load(), int64(maxQueuedBytes)+frameBytes)
	assert.Less(t, len(c.in), frames)

	for i := range frames {
		select {
		case in := <-c.in:
			c.took(in)
			require.NoError(t, in.err)
			ev, ok := in.msg.(*protocol.Events)
			require.True(t, ok)
			assert.Equal(t, int64(i*4+4), ev.Cursor)
		case <-ctx.Done():
			t.Fatalf("frame %d never arrived", i)
		}
	}
	assert.Zero(t, c.queued.Load())
}
