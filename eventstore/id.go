package eventstore

import (
	"crypto/rand"
	"io"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

var (
	idMu      sync.Mutex
	idEntropy io.Reader = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns a new event id: a ULID, monotonic within a millisecond in
// this process, so ids made in sequence also sort in sequence.
func NewID() string {
	idMu.Lock()
	defer idMu.Unlock()
	ms := ulid.Timestamp(time.Now())
	id, err := ulid.New(ms, idEntropy)
	if err != nil { // monotonic overflow within one millisecond: start afresh
		idEntropy = ulid.Monotonic(rand.Reader, 0)
		id = ulid.MustNew(ms, idEntropy)
	}
	return id.String()
}

// ValidID reports whether id is a well-formed ULID string.
func ValidID(id string) bool {
	_, err := ulid.ParseStrict(id)
	return err == nil
}
