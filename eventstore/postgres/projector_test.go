package postgres

import (
	"testing"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/projector/projectortest"
)

// TestProjectorConformance runs the projector suite on PostgreSQL: a
// server-side app's projectors, checkpoints and effects outbox on tenant
// stores of one DB, each subtest on a fresh tenant (which starts empty). The
// DB keeps the hub's default positions (HubPosition = Position), as an app
// running next to the hub would.
func TestProjectorConformance(t *testing.T) {
	db := openDB(t, testSchema(t), Options{})
	projectortest.Run(t, func(t *testing.T, cfg eventstore.Config) projector.Store {
		return openStore(t, db, newTenant(t), cfg)
	})
}
