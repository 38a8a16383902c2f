package hub_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// dropLog is a slog.Handler that reports the remote address of every
// connection the hub drops to free outbound memory.
type dropLog struct {
	remote  string
	dropped chan string
}

func (l dropLog) Enabled(context.Context, slog.Level) bool { return true }
func (l dropLog) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "slow consumer: dropped") {
		l.dropped <- l.remote
	}
	return nil
}
func (l dropLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	for _, a := range attrs {
		if a.Key == "remote" {
			l.remote = a.Value.String()
		}
	}
	return l
}
func (l dropLog) WithGroup(string) slog.Handler { return l }

// TestOutboundBudgetBoundsNonReaders: clients that say hello with cursor
// 0 and never read cannot make the hub hold more outbound bytes than
// Config.SendBytes; while an honest client waits for room, they are
// dropped with the resume code (slow_consumer), and the honest client
// pulls the whole backlog.
func TestOutboundBudgetBoundsNonReaders(t *testing.T) {
	const (
		sendBytes = 1 << 20
		nonReader = 6
		backlog   = 2500 // 10 MB in 4 KB events: more than the socket buffers hold
	)
	drops := dropLog{dropped: make(chan string, 64)}
	h := memHarness(t, func(c *hub.Config) {
		c.Limits = protocol.Limits{MaxFrameBytes: 128 << 10, MaxEventsPerBatch: 50, MaxEventBytes: 64 << 10}
		c.SendBytes = sendBytes
		c.ConnSendBytes = sendBytes / 2 // one stalled non-reader presses the hub
		c.SlowConsumerTimeout = 300 * time.Millisecond
		c.WriteTimeout = time.Minute // not what drops them
		c.Logger = slog.New(drops)
	})
	data := []byte(`{"s":"` + strings.Repeat("x", 4<<10) + `"}`)
	events := newEvents(backlog, "task/1")
	for i := range events {
		events[i].Data = data
	}
	seed(t, h.stores.must(t, "acme"), events)

	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak.Store(max(peak.Load(), h.srv.OutboundBytes()))
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()

	// The non-readers say hello with cursor 0 and read nothing more until
	// the hub drops them; then they read what is left.
	slow := make(map[string]*client, nonReader)
	for range nonReader {
		s := dialSlow(t, h, 0)
		slow[s.ws.LocalAddr().String()] = s
	}
	type end struct {
		code int
		perr *protocol.Error
	}
	ends := make(chan end, nonReader)
	var seen atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seen.Load() < nonReader {
			select {
			case remote := <-drops.dropped:
				s := slow[remote]
				if s == nil {
					continue // the honest client, or one dropped twice
				}
				delete(slow, remote)
				seen.Add(1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, perr := closedQuietly(s)
					ends <- end{code, perr}
				}()
			case <-time.After(ioTimeout):
				return
			}
		}
	}()

	// Honest clients pull the whole backlog meanwhile, one after the
	// other until every non-reader is dropped (the hub drops them only
	// while someone waits for outbound bytes).
	deadline := time.Now().Add(ioTimeout)
	for i := 0; i == 0 || seen.Load() < nonReader && time.Now().Before(deadline); i++ {
		f := connect(t, h, token(t, "acme"), 0)
		f.catchUp()
		require.Len(t, f.pulled, backlog)
		requireHubOrder(t, f.pulled, 0)
		require.NoError(t, f.ws.Close())
	}

	wg.Wait()
	close(stop)
	<-sampled
	close(ends)
	n := 0
	for e := range ends {
		n++
		assert.Equal(t, protocol.CloseSlowConsumer, e.code)
		if assert.NotNil(t, e.perr) {
			assert.Equal(t, protocol.CodeSlowConsumer, e.perr.Code)
			assert.True(t, e.perr.Resume)
		}
	}
	assert.Equal(t, nonReader, n, "non-readers dropped")
	assert.LessOrEqual(t, peak.Load(), int64(sendBytes), "outbound bytes over the budget")
	assert.Greater(t, peak.Load(), int64(sendBytes/2), "the non-readers never filled the budget")
	require.Eventually(t, func() bool { return h.srv.OutboundBytes() == 0 }, ioTimeout, 10*time.Millisecond,
		"outbound bytes not given back: %d", h.srv.OutboundBytes())
}

// closedQuietly reads until s's connection ends, like client.closed,
// without failing the test from another goroutine.
func closedQuietly(s *client) (int, *protocol.Error) {
	var perr *protocol.Error
	for {
		_ = s.ws.SetReadDeadline(time.Now().Add(ioTimeout))
		_, frame, err := s.ws.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				return ce.Code, perr
			}
			return websocket.CloseAbnormalClosure, perr
		}
		m, err := protocol.Decode(frame, protocol.Limits{MaxFrameBytes: protocol.HardMaxFrameBytes, MaxEventsPerBatch: protocol.HardMaxEventsPerBatch})
		if e, ok := m.(*protocol.Error); ok && err == nil {
			perr = e
		}
	}
}

// refused dials h with a token for subject and returns the HTTP status,
// the Retry-After header and the protocol error of a refusal (status 101
// when the upgrade succeeded; the connection then closes with the test).
func refused(t *testing.T, h *harness, subject string) (int, string, *protocol.Error) {
	t.Helper()
	tok, err := hub.IssueToken(testSecret, hub.Claims{Tenant: "acme", Subject: subject, Expiry: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	ws, resp, err := dialRaw(h, http.Header{"Authorization": {"Bearer " + tok}})
	if err == nil {
		t.Cleanup(func() { _ = ws.Close() })
		return resp.StatusCode, "", nil
	}
	require.NotNil(t, resp, "%v", err)
	defer resp.Body.Close()
	var perr protocol.Error
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&perr))
	return resp.StatusCode, resp.Header.Get("Retry-After"), &perr
}

// TestConnectionLimits: beyond MaxConns a node refuses the upgrade with
// 503, beyond MaxConnsPerSubject with 429, both with Retry-After and
// protocol.CodeOverloaded; a connection that ends makes room.
func TestConnectionLimits(t *testing.T) {
	h := memHarness(t, func(c *hub.Config) {
		c.MaxConns = 3
		c.MaxConnsPerSubject = 2
	})
	status, _, _ := refused(t, h, "a")
	require.Equal(t, http.StatusSwitchingProtocols, status)
	status, _, _ = refused(t, h, "a")
	require.Equal(t, http.StatusSwitchingProtocols, status)

	status, retry, perr := refused(t, h, "a")
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, "5", retry)
	assert.Equal(t, protocol.CodeOverloaded, perr.Code)
	assert.Equal(t, hub.DefaultBusyRetryAfter.Milliseconds(), perr.RetryAfterMS)

	b := connect(t, h, token(t, "acme"), 0) // subject device-1
	status, retry, perr = refused(t, h, "c")
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "5", retry)
	assert.Equal(t, protocol.CodeOverloaded, perr.Code)

	// The same subject in another tenant is another subject.
	tok, err := hub.IssueToken(testSecret, hub.Claims{Tenant: "other", Subject: "a", Expiry: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	_, resp, err := dialRaw(h, http.Header{"Authorization": {"Bearer " + tok}})
	require.Error(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "the node is full")
	_ = resp.Body.Close()

	require.NoError(t, b.ws.Close())
	require.Eventually(t, func() bool {
		ws, resp, err := dialRaw(h, http.Header{"Authorization": {"Bearer " + tok}})
		if err != nil {
			_ = resp.Body.Close()
			return false
		}
		_ = ws.Close()
		return true
	}, ioTimeout, 20*time.Millisecond, "a closed connection frees its slot")
}
