package hub_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// logSignal is a slog.Handler that closes a channel when a record with a
// given message is logged.
type logSignal struct {
	msg  string
	once *sync.Once
	ch   chan struct{}
}

func newLogSignal(msg string) logSignal {
	return logSignal{msg: msg, once: new(sync.Once), ch: make(chan struct{})}
}

func (l logSignal) Enabled(context.Context, slog.Level) bool { return true }
func (l logSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == l.msg {
		l.once.Do(func() { close(l.ch) })
	}
	return nil
}
func (l logSignal) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logSignal) WithGroup(string) slog.Handler      { return l }

// dialSlow dials the hub through a small receive buffer, says Hello with
// cursor and reads the Welcome.
func dialSlow(t *testing.T, h *harness, cursor int64) *client {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: ioTimeout, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(64 << 10)
		}
		return c, err
	}}
	ws, resp, err := d.Dial(h.url(), http.Header{"Authorization": {"Bearer " + token(t, "acme")}})
	require.NoError(t, err)
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	s := &client{t: t, ws: ws, cursor: cursor}
	s.send(&protocol.Hello{Versions: []int{1}, Client: "slow", Cursor: cursor})
	m, err := s.recv()
	require.NoError(t, err)
	s.welcome = m.(*protocol.Welcome)
	return s
}

func TestSlowConsumerIsClosedOthersAreNot(t *testing.T) {
	slow := newLogSignal("slow consumer")
	h := memHarness(t, func(c *hub.Config) {
		c.Limits = protocol.Limits{MaxFrameBytes: 256 << 10, MaxEventsPerBatch: 100, MaxEventBytes: 64 << 10}
		c.SendQueue = 2
		c.SlowConsumerTimeout = 2 * time.Second
		c.WriteTimeout = time.Minute // the blocked write survives until the client reads
		c.Logger = slog.New(slow)
	})
	// The slow client catches up (nothing to pull), then reads nothing
	// more, through a small receive buffer.
	s := dialSlow(t, h, 0)
	s.catchUp()

	// A fast client follows the live events meanwhile; it pushes 8 MB,
	// more than the socket buffers hold.
	f := connect(t, h, token(t, "acme"), 0)
	f.catchUp()
	const live = 500
	data := []byte(`{"s":"` + strings.Repeat("x", 16<<10) + `"}`)
	events := newEvents(live, "task/1")
	for i := range events {
		events[i].Data = data
	}
	for i := 0; i < live; i += 10 {
		f.push(fmt.Sprintf("a%d", i), events[i:i+10]...)
	}
	f.waitPulled(live)

	select {
	case <-slow.ch:
	case <-time.After(ioTimeout):
		t.Fatal("the slow client was never closed")
	}
	// Nobody is slowed by it.
	f.push("b2", newEvent("task/3"))
	f.waitPulled(live + 1)

	// When it reads again it finds the slow_consumer error and close code.
	code, perr := s.closed()
	assert.Equal(t, protocol.CloseSlowConsumer, code)
	require.NotNil(t, perr)
	assert.Equal(t, protocol.CodeSlowConsumer, perr.Code)
	assert.True(t, perr.Resume)
	assert.Less(t, len(s.pulled), live)
	requireHubOrder(t, s.pulled, 0)

	// It resumes from its cursor and gets the rest, nothing twice.
	r := connect(t, h, token(t, "acme"), s.cursor)
	r.catchUp()
	got := append(append([]eventstore.Event(nil), s.pulled...), r.pulled...)
	require.Len(t, got, live+1)
	requireHubOrder(t, got, 0)
}

// TestSlowCatchUpIsNotClosed checks that during catch-up the hub waits for
// a client that reads slowly, however long its send queue stays full.
func TestSlowCatchUpIsNotClosed(t *testing.T) {
	slow := newLogSignal("slow consumer")
	h := memHarness(t, func(c *hub.Config) {
		c.Limits = protocol.Limits{MaxFrameBytes: 256 << 10, MaxEventsPerBatch: 10, MaxEventBytes: 64 << 10}
		c.SendQueue = 2
		c.SlowConsumerTimeout = 20 * time.Millisecond
		c.Logger = slog.New(slow)
	})
	const backlog = 3000 // 12 MB in 300 frames: more than the socket buffers hold
	data := []byte(`{"s":"` + strings.Repeat("x", 4<<10) + `"}`)
	events := newEvents(backlog, "task/1")
	for i := range events {
		events[i].Data = data
	}
	seed(t, h.stores.must(t, "acme"), events)

	s := dialSlow(t, h, 0)
	time.Sleep(300 * time.Millisecond) // the queue stays full many timeouts long
	for !s.caughtUp {
		_, err := s.recv()
		require.NoError(t, err, "after %d events", len(s.pulled))
		time.Sleep(time.Millisecond)
	}
	require.Len(t, s.pulled, backlog)
	requireHubOrder(t, s.pulled, 0)
	select {
	case <-slow.ch:
		t.Fatal("the hub took the catch-up for a slow consumer")
	default:
	}

	// Live events still reach it.
	f := connect(t, h, token(t, "acme"), backlog)
	f.catchUp()
	f.push("b1", newEvent("task/2"))
	s.waitPulled(backlog + 1)
	requireHubOrder(t, s.pulled, 0)
}
