package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/protocol"
)

// dropProxy relays WebSocket frames between a client and the hub, and cuts
// both connections when it sees the hub's first ack: the hub has stored the
// push, the client never hears of it.
type dropProxy struct {
	target  string
	dropped atomic.Bool
}

func newDropProxy(t *testing.T, target string) string {
	p := &dropProxy{target: target}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/sync"
}

func (p *dropProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	back, resp, err := websocket.DefaultDialer.Dial(p.target, http.Header{"Authorization": r.Header["Authorization"]})
	if err != nil {
		status := http.StatusBadGateway
		if resp != nil {
			status = resp.StatusCode
		}
		http.Error(w, "proxy: "+err.Error(), status)
		return
	}
	defer back.Close()
	front, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer front.Close()
	go func() {
		defer back.Close()
		for {
			typ, data, err := front.ReadMessage()
			if err != nil || back.WriteMessage(typ, data) != nil {
				return
			}
		}
	}()
	for {
		typ, data, err := back.ReadMessage()
		if err != nil {
			return
		}
		if bytes.Contains(data, []byte(`"type":"ack"`)) && !p.dropped.Swap(true) {
			return // drop both connections before the ack is relayed
		}
		if front.WriteMessage(typ, data) != nil {
			return
		}
	}
}

// A push whose ack is lost is pushed again on the next sync: the hub
// stores nothing twice and the client ends with every hub position.
func TestPushIdempotent(t *testing.T) {
	for _, b := range backends() {
		for _, pull := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/pull=%v", b.name, pull), func(t *testing.T) {
				testPushIdempotent(t, b, pull)
			})
		}
	}
}

// testPushIdempotent runs TestPushIdempotent; without pull, the client
// narrows its pull to streams it does not write, so every event the hub
// stored is re-sent and acked as a duplicate.
func testPushIdempotent(t *testing.T, b backend, pull bool) {
	h := newTestHub(t)
	proxy := newDropProxy(t, h.URL())
	s := b.open(t, "dev-a")
	write(t, s, "x", 400)
	r := replicator(t, h, s, "acme", batchSize(50), func(c *client.Config) {
		c.URL = proxy
		if !pull {
			c.Streams = []string{"elsewhere/"}
		}
	})

	_, err := r.SyncOnce(context.Background())
	require.ErrorIs(t, err, client.ErrDisconnected)
	st, err := r.Status(context.Background())
	require.NoError(t, err)
	assert.Positive(t, st.Pending, "the lost ack leaves events pending")
	assert.False(t, st.Online)
	assert.NotEmpty(t, st.LastError)
	stored := len(testutil.Ledger(t, h.tenant("acme")))
	require.Positive(t, stored, "the hub stored the first push")

	stats := syncOnce(t, r)
	// Events the hub stored may come back in the catch-up before they
	// are re-sent (Insert then records their hub position); the rest
	// are re-sent and acked as duplicates.
	assert.GreaterOrEqual(t, stats.Pushed, 400-stored)
	if !pull {
		assert.Equal(t, 400, stats.Pushed, "stored events re-sent and acked again")
		assert.Zero(t, stats.Pulled)
	}
	hubLedger := testutil.Ledger(t, h.tenant("acme"))
	require.Len(t, hubLedger, 400, "nothing stored twice")
	hubIDs := testutil.IDs(hubLedger)
	slices.Sort(hubIDs)
	assert.Len(t, slices.Compact(hubIDs), 400)

	stats = syncOnce(t, r)
	assert.Zero(t, stats.Pushed)
	assert.Len(t, testutil.Ledger(t, h.tenant("acme")), 400)
	st, err = r.Status(context.Background())
	require.NoError(t, err)
	assert.Zero(t, st.Pending)
	for _, e := range testutil.Ledger(t, s) {
		assert.Positive(t, e.HubPosition)
	}
}

// Events the hub rejects are recorded, reported, excluded from the
// outbox and never pushed again; the events behind them keep flowing.
func TestRejected(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newTestHub(t)
			s := b.open(t, "dev-a")
			write(t, s, "ok/1", 2)
			bad := write(t, s, "secret/1", 1)[0]
			write(t, s, "ok/2", 1)
			write(t, s, "ok/3", 1)
			_, err := s.Append(context.Background(), eventstore.Write{Stream: "ok/4", Events: []eventstore.Event{{
				Type: "note:added", Data: []byte(`{"s":"` + strings.Repeat("x", 300) + `"}`),
			}}})
			require.NoError(t, err)
			r := replicator(t, h, s, "acme", func(c *client.Config) {
				c.Token = token(t, "acme", "device", "ok/")
				c.Limits.MaxEventBytes = 200 // the last event breaks it: rejected locally
			})

			st, err := r.SyncOnce(context.Background())
			require.NoError(t, err, "rejections are not an error")
			require.Len(t, st.Rejections, 2)
			byCode := map[protocol.Code]client.Rejection{}
			for _, rej := range st.Rejections {
				byCode[rej.Code] = rej
			}
			assert.Equal(t, bad.ID, byCode[protocol.CodeForbiddenStream].ID)
			assert.False(t, byCode[protocol.CodeForbiddenStream].Local)
			assert.True(t, byCode[protocol.CodeEventTooLarge].Local)
			assert.Equal(t, 4, st.Pushed)
			assert.Equal(t, 2, st.Rejected)
			assert.Len(t, testutil.Ledger(t, h.tenant("acme")), 4)

			status, err := r.Status(context.Background())
			require.NoError(t, err)
			assert.Zero(t, status.Pending)
			assert.Equal(t, 2, status.Rejected)
			list, err := r.Rejections(context.Background())
			require.NoError(t, err)
			assert.Len(t, list, 2)
			for _, rej := range list {
				assert.NotEmpty(t, rej.Reason)
				assert.False(t, rej.At.IsZero())
			}

			// The rejected events are gone from stream reads (so from
			// folds) and versions, but stay in the ledger, flagged.
			for _, stream := range []string{"secret/1", "ok/4"} {
				assert.Empty(t, testutil.ReadStream(t, s, stream), stream)
				v, err := s.StreamVersion(context.Background(), stream)
				require.NoError(t, err)
				assert.Zero(t, v, stream)
			}
			assert.Len(t, testutil.ReadStream(t, s, "ok/1"), 2)
			var flagged []string
			for _, e := range testutil.Ledger(t, s) {
				if e.Rejected {
					flagged = append(flagged, e.ID)
				}
			}
			assert.ElementsMatch(t, []string{byCode[protocol.CodeForbiddenStream].ID, byCode[protocol.CodeEventTooLarge].ID}, flagged)

			st, err = r.SyncOnce(context.Background())
			require.NoError(t, err, "rejections are not retried")
			assert.Zero(t, st.Pushed)
			assert.Zero(t, st.Rejected)
			assert.Len(t, testutil.Ledger(t, h.tenant("acme")), 4)
		})
	}
}

func TestUnauthorized(t *testing.T) {
	h := newTestHub(t)
	for name, tok := range map[string]string{
		"forged": func() string {
			tk := token(t, "acme", "d")
			return tk[:len(tk)-4] + "AAAA"
		}(),
		"missing": "",
	} {
		t.Run(name, func(t *testing.T) {
			s := backends()[0].open(t, "dev-a")
			write(t, s, "x", 1)
			r := replicator(t, h, s, "acme", func(c *client.Config) { c.Token = tok })
			_, err := r.SyncOnce(context.Background())
			require.ErrorIs(t, err, client.ErrUnauthorized)
			assert.False(t, errors.Is(err, client.ErrUnreachable))
			st, err := r.Status(context.Background())
			require.NoError(t, err)
			assert.False(t, st.Online)
			assert.Contains(t, st.LastError, "unauthorized")
			assert.Equal(t, 1, st.Pending)
			assert.Empty(t, testutil.Ledger(t, h.tenant("acme")), "nothing stored")
		})
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/sync"
	srv.Close() // the port is now closed
	s := backends()[0].open(t, "dev-a")
	r, err := client.New(s, client.Config{URL: url})
	require.NoError(t, err)
	_, err = r.SyncOnce(context.Background())
	require.ErrorIs(t, err, client.ErrUnreachable)
	assert.Equal(t, 1, strings.Count(err.Error(), "client:"), "each prefix once: %v", err)
	assert.Equal(t, 1, strings.Count(err.Error(), url), "the URL once: %v", err)
	st, err := r.Status(context.Background())
	require.NoError(t, err)
	assert.False(t, st.Online)
	assert.False(t, st.LastAttempt.IsZero())
	assert.NotEmpty(t, st.LastError)
}
