package hub_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// gatedStore holds every Insert until release is closed.
type gatedStore struct {
	eventstore.Store
	entered chan struct{}
	release chan struct{}
}

func (g *gatedStore) Insert(ctx context.Context, events ...eventstore.Event) ([]eventstore.InsertResult, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.release
	return g.Store.Insert(ctx, events...)
}

func TestShutdownFinishesPushesAndSendsGoingAway(t *testing.T) {
	gs := &gatedStore{Store: memory.New(eventstore.Config{}), entered: make(chan struct{}, 1), release: make(chan struct{})}
	stores := newTenantStores(t, func(string) (eventstore.Store, error) { return gs, nil })
	h := newHarness(t, stores, nil)

	pusher := connect(t, h, token(t, "acme"), 0)
	pusher.catchUp()
	idle := connect(t, h, token(t, "acme"), 0)
	idle.catchUp()

	events := newEvents(3, "task/1")
	pusher.send(&protocol.Push{Batch: "inflight", Events: wire(events)})
	<-gs.entered

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		done <- h.srv.Shutdown(ctx)
	}()
	// Once shutting down the node is not ready and accepts no one.
	require.Eventually(t, func() bool { return testutil.HTTPStatus(t, h.ts.URL+"/readyz") == http.StatusServiceUnavailable },
		ioTimeout, 10*time.Millisecond)
	_, resp, err := dialRaw(h, http.Header{"Authorization": {"Bearer " + token(t, "acme")}})
	require.Error(t, err)
	require.NotNil(t, resp)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	close(gs.release)
	code, perr := pusher.closed()
	assert.Equal(t, protocol.CloseGoingAway, code)
	require.NotNil(t, perr)
	assert.Equal(t, protocol.CodeGoingAway, perr.Code)
	assert.True(t, perr.Resume)
	var ack *protocol.Ack
	for _, m := range pusher.msgs {
		if a, ok := m.(*protocol.Ack); ok {
			ack = a
		}
	}
	require.NotNil(t, ack, "the in-flight push was not acknowledged")
	for i, r := range ack.Results {
		assert.Equal(t, int64(i+1), r.HubPosition)
	}

	code, perr = idle.closed()
	assert.Equal(t, protocol.CloseGoingAway, code)
	require.NotNil(t, perr)
	assert.Equal(t, protocol.CodeGoingAway, perr.Code)
	require.NoError(t, <-done)
	assert.Equal(t, int64(3), head(t, gs))
}

func TestHealthAndReadiness(t *testing.T) {
	var notReady error
	h := memHarness(t, func(c *hub.Config) {
		c.Ready = func(context.Context) error { return notReady }
	})
	assert.Equal(t, http.StatusOK, testutil.HTTPStatus(t, h.ts.URL+"/healthz"))
	assert.Equal(t, http.StatusOK, testutil.HTTPStatus(t, h.ts.URL+"/readyz"))
	notReady = errors.New("database down")
	assert.Equal(t, http.StatusServiceUnavailable, testutil.HTTPStatus(t, h.ts.URL+"/readyz"))
	assert.Equal(t, http.StatusOK, testutil.HTTPStatus(t, h.ts.URL+"/healthz"))
}

func TestNewValidatesConfig(t *testing.T) {
	stores := hub.LedgerFunc(func(context.Context, string) (hub.Ledger, error) { return nil, errors.New("x") })
	for name, cfg := range map[string]hub.Config{
		"no stores":    {Secret: testSecret},
		"short secret": {Ledgers: stores, Secret: []byte("short")},
		"bad limits":   {Ledgers: stores, Secret: testSecret, Limits: protocol.Limits{MaxFrameBytes: 1000}},
	} {
		_, err := hub.New(cfg)
		assert.Error(t, err, name)
	}
}

func TestStoreUnavailable(t *testing.T) {
	stores := newTenantStores(t, func(string) (eventstore.Store, error) { return nil, errors.New("disk full") })
	h := newHarness(t, stores, nil)
	_, resp, err := dialRaw(h, http.Header{"Authorization": {"Bearer " + token(t, "acme")}})
	require.Error(t, err)
	require.NotNil(t, resp)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}
