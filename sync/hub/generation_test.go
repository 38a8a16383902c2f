package hub_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// TestWelcomeGeneration: on every backend, Welcome carries the tenant
// ledger's generation to clients of protocol version 3 (the same on every
// connection, another for another tenant), and none to older clients.
func TestWelcomeGeneration(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			stores := b.open(t)
			h := newHarness(t, stores, nil)
			store := stores.must(t, "acme")
			gl, ok := store.(hub.GenerationLedger)
			require.True(t, ok, "%T keeps a generation", store)
			want, err := gl.Generation(context.Background())
			require.NoError(t, err)
			require.NotEmpty(t, want)

			for range 2 {
				c := connect(t, h, token(t, "acme"), 0)
				assert.Equal(t, want, c.welcome.Generation)
			}
			other := connect(t, h, token(t, "globex"), 0)
			assert.NotEmpty(t, other.welcome.Generation)
			assert.NotEqual(t, want, other.welcome.Generation)

			old := connectWith(t, h, token(t, "acme"), &protocol.Hello{Versions: []int{1, 2}, Client: "old"})
			assert.Empty(t, old.welcome.Generation, "a version 2 client gets none")
		})
	}
}
