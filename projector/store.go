package projector

import "github.com/ferrysync/ferry/eventstore"

// Store is what projectors and the effects outbox need of an event store:
// the core ledger, checkpoints, and key/value state (where a projector
// records its failures and versions, and the outbox its effects). The
// memory, SQLite and PostgreSQL stores all have it. The Tx of a Store's
// Update must offer the same capabilities (eventstore.Checkpoints and
// eventstore.KeyValues); every backend's does.
type Store interface {
	eventstore.Store
	eventstore.Checkpoints
	eventstore.KeyValues
	eventstore.StateLister
}
