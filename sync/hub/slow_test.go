package hub_test

import (
	"context"
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

func TestSlowConsumerIsClosedOthersAreNot(t *testing.T) {
	slow := newLogSignal("slow consumer")
	h := memHarness(t, func(c *hub.Config) {
		c.Limits = protocol.Limits{MaxFrameBytes: 256 << 10, MaxEventsPerBatch: 100, MaxEventBytes: 64 << 10}
		c.SendQueue = 2
		c.SlowConsumerTimeout = 2 * time.Second
		c.WriteTimeout = time.Minute // the blocked write survives until the client reads
		c.Logger = slog.New(slow)
	})
	const backlog = 500 // 8 MB: more than the socket buffers hold
	data := []byte(`{"s":"` + strings.Repeat("x", 16<<10) + `"}`)
	events := newEvents(backlog, "task/1")
	for i := range events {
		events[i].Data = data
	}
	seed(t, h.stores.must(t, "acme"), events)

	// The slow client reads its Welcome, then nothing, through a small
	// receive buffer.
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
	s := &client{t: t, ws: ws}
	s.send(&protocol.Hello{Versions: []int{1}, Client: "slow"})
	m, err := s.recv()
	require.NoError(t, err)
	s.welcome = m.(*protocol.Welcome)

	// A fast client at the head follows live events meanwhile.
	f := connect(t, h, token(t, "acme"), backlog)
	f.catchUp()
	f.push("b1", newEvent("task/2"))
	f.waitPulled(1)

	select {
	case <-slow.ch:
	case <-time.After(ioTimeout):
		t.Fatal("the slow client was never closed")
	}
	// Nobody is slowed by it.
	f.push("b2", newEvent("task/3"))
	f.waitPulled(2)

	// When it reads again it finds the slow_consumer error and close code.
	code, perr := s.closed()
	assert.Equal(t, protocol.CloseSlowConsumer, code)
	require.NotNil(t, perr)
	assert.Equal(t, protocol.CodeSlowConsumer, perr.Code)
	assert.True(t, perr.Resume)
	assert.Less(t, len(s.pulled), backlog)
	requireHubOrder(t, s.pulled, 0)

	// It resumes from its cursor and gets the rest, nothing twice.
	r := connect(t, h, token(t, "acme"), s.cursor)
	r.catchUp()
	got := append(append([]eventstore.Event(nil), s.pulled...), r.pulled...)
	require.Len(t, got, backlog+2)
	requireHubOrder(t, got, 0)
}
