package client_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStatusHeadAndLag checks that Status reports the hub's head as last
// known, and the lag of the cursor behind it.
func TestStatusHeadAndLag(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newTestHub(t)
			a := b.open(t, "dev-a")
			write(t, a, "x", 10)
			syncOnce(t, replicator(t, h, a, "acme"))

			rb := replicator(t, h, b.open(t, "dev-b"), "acme")
			st, err := rb.Status(context.Background())
			require.NoError(t, err)
			assert.Zero(t, st.Head, "unknown before the first connection")
			assert.Zero(t, st.Lag)

			syncOnce(t, rb)
			st, err = rb.Status(context.Background())
			require.NoError(t, err)
			assert.Equal(t, int64(10), st.Head)
			assert.Equal(t, int64(10), st.Cursor)
			assert.Zero(t, st.Lag)

			write(t, a, "x", 5)
			syncOnce(t, replicator(t, h, a, "acme"))
			syncOnce(t, rb)
			st, err = rb.Status(context.Background())
			require.NoError(t, err)
			assert.Equal(t, int64(15), st.Head)
			assert.Zero(t, st.Lag)
		})
	}
}
