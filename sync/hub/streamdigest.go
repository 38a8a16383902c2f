package hub

import (
	"sync"

	"github.com/ferrysync/ferry/eventstore"
)

// Per-stream digests. The catch-up digest of a narrow scope (see
// scopedDigest) is the sum of its streams' digests up to the cursor. The
// hub keeps, per tenant ledger (and generation) and stream, the digest of
// the stream's events up to some position, learned when a scoped read
// went through a whole stream (a catch-up or a backfill from position 0)
// or when a scoped digest was computed, so that the next connection of
// such a scope (the session after a backfill, above all) reads only what
// came after.

// maxStreamDigests bounds the streams whose digests are kept; beyond it an
// arbitrary one is dropped.
const maxStreamDigests = 100_000

// streamDigest is the digest of a stream's events up to pos.
type streamDigest struct {
	pos int64
	d   eventstore.Digest
}

// streamDigests holds per-stream digests by ledger key and stream.
type streamDigests struct {
	mu sync.Mutex
	m  map[string]streamDigest
}

func streamKey(ledger, stream string) string { return ledger + "\x00" + stream }

// get returns the digest kept for stream of ledger.
func (s *streamDigests) get(ledger, stream string) (streamDigest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sd, ok := s.m[streamKey(ledger, stream)]
	return sd, ok
}

// put keeps sd for stream of ledger, unless a later one is kept.
func (s *streamDigests) put(ledger, stream string, sd streamDigest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := streamKey(ledger, stream)
	if old, ok := s.m[k]; ok && old.pos >= sd.pos {
		return
	}
	if s.m == nil {
		s.m = make(map[string]streamDigest)
	}
	if _, ok := s.m[k]; !ok && len(s.m) >= maxStreamDigests {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[k] = sd
}
