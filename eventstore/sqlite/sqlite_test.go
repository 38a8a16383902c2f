package sqlite_test

import (
	"testing"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/storetest"
	"github.com/ferrysync/ferry/internal/testutil/tempsqlite"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, cfg eventstore.Config) eventstore.Store {
		return tempsqlite.Open(t, cfg)
	})
}
