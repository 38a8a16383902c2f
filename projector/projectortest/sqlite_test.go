package projectortest_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/projector/projectortest"
)

func TestSQLite(t *testing.T) {
	projectortest.Run(t, func(t *testing.T, cfg eventstore.Config) projector.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ferry.db"), sqlite.Options{Config: cfg})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
