package synctest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/hub"
)

// ServeHub serves an in-process hub for the test t, with store as the
// ledger of tenant "acme" (other tenants are refused) and tokens signed
// with secret; mod, when set, adjusts the configuration. It returns the
// WebSocket URL and shuts the hub down when t ends.
func ServeHub(t testing.TB, secret []byte, store eventstore.Store, mod func(*hub.Config)) string {
	t.Helper()
	cfg := hub.Config{Secret: secret, NodeID: "e2e", Stores: func(_ context.Context, tenant string) (eventstore.Store, error) {
		if tenant != "acme" {
			return nil, fmt.Errorf("unknown tenant %q", tenant)
		}
		return store, nil
	}}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := hub.New(cfg)
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/sync"
}
