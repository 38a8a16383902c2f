package projectortest_test

import (
	"testing"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil/tempsqlite"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/projector/projectortest"
)

func TestSQLite(t *testing.T) {
	projectortest.Run(t, func(t *testing.T, cfg eventstore.Config) projector.Store {
		return tempsqlite.Open(t, cfg)
	})
}
