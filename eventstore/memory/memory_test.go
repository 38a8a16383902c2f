package memory_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/eventstore/storetest"
)

func open(t *testing.T, cfg eventstore.Config) eventstore.Store {
	s := memory.New(cfg)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// TestConformance runs the shared suite. Two independent memory stores
// stand in for two tenants: isolation is trivially true, but the checks
// still exercise every method on both.
func TestConformance(t *testing.T) {
	storetest.Run(t, open, storetest.WithTenants(func(t *testing.T, cfg eventstore.Config) (a, b eventstore.Store) {
		return open(t, cfg), open(t, cfg)
	}))
}
