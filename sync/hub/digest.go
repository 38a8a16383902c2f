package hub

import (
	"cmp"
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"sync"

	"github.com/ferrysync/ferry/eventstore"
)

// Ledger digests. The hub tells each client of protocol version 3 or later
// the digest (eventstore.Digest) of the events in its scope at hub
// positions up to the head it caught it up to (CaughtUp.Digest); the
// client compares its own and, on a mismatch, locates and re-pulls the
// ranges that differ with range reads (Hello.Until; see range.go).
//
// CaughtUp's digest is the digest up to the client's cursor at hello plus
// the events the catch-up sent. The first part comes from a per-tenant,
// per-scope cache of prefix digests at every digestBlock positions and at
// the heads recent catch-ups ended at, so a client resuming near the head
// costs a read of at most digestBlock events; a cold cache (after the hub
// starts) is filled by reading the ledger up to the cursor once.

// digestBlock is the spacing of the cached prefix digests, in positions.
const digestBlock = 1024

// maxDigestEntries bounds the (tenant, scope) pairs the cache keeps; the
// least recently used goes first.
const maxDigestEntries = 4096

// maxDigestHeads bounds the exact prefix digests an entry keeps besides
// its block marks.
const maxDigestHeads = 16

// digestCache holds prefix digests by tenant and scope.
type digestCache struct {
	mu      sync.Mutex
	entries map[string]*prefixDigests
	clock   uint64        // advances on every use, for the LRU
	streams streamDigests // per-stream digests, for narrow scopes (streamdigest.go)
}

// prefixDigests holds the digests of one tenant and scope from position 0
// up to some positions. Its lock serialises reads of the ledger that
// extend it.
type prefixDigests struct {
	used    uint64 // digestCache.clock at the last use
	mu      sync.Mutex
	marks   []digestMark                // ascending, at multiples of digestBlock; marks[0] is position 0
	heads   map[int64]eventstore.Digest // exact positions (catch-up heads)
	streams *streamDigests              // the cache's per-stream digests
	ledger  string                      // the tenant and generation, their key
}

type digestMark struct {
	pos int64
	d   eventstore.Digest
}

func newDigestCache() *digestCache {
	return &digestCache{entries: map[string]*prefixDigests{}}
}

// entry returns the prefix digests of tenant's ledger of generation gen
// and scope, evicting the least recently used entry when the cache is
// full. A ledger replaced by another one while the hub runs has another
// generation, so its digests are not taken from the old one's.
func (dc *digestCache) entry(tenant, gen string, sc scope) *prefixDigests {
	key := tenant + "\x00" + gen + "\x00" + scopeKey(sc)
	dc.mu.Lock()
	defer dc.mu.Unlock()
	dc.clock++
	p := dc.entries[key]
	if p == nil {
		if len(dc.entries) >= maxDigestEntries {
			var oldest string
			var at uint64
			for k, e := range dc.entries {
				if oldest == "" || e.used < at {
					oldest, at = k, e.used
				}
			}
			delete(dc.entries, oldest)
		}
		p = &prefixDigests{marks: []digestMark{{}}, heads: map[int64]eventstore.Digest{},
			streams: &dc.streams, ledger: tenant + "\x00" + gen}
		dc.entries[key] = p
	}
	p.used = dc.clock
	return p
}

// scopeKey names a scope: its token and pull prefixes, sorted; a SHA-256 of
// them when they are long (a device subscribed to thousands of streams).
func scopeKey(sc scope) string {
	t, p := slices.Sorted(slices.Values(sc.token)), slices.Sorted(slices.Values(sc.pull))
	k := strings.Join(t, "\x01") + "\x02" + strings.Join(p, "\x01")
	if len(k) > 256 {
		sum := sha256.Sum256([]byte(k))
		return "sha256:" + string(sum[:])
	}
	return k
}

// at returns the digest of the events of scope sc in l at positions up to
// pos, which must not exceed l's head. names lists sc's streams for a
// narrow scope (nil: scopeStreams).
func (p *prefixDigests) at(ctx context.Context, l Ledger, sc scope, pos int64, names streamNames) (eventstore.Digest, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := p.heads[pos]; ok {
		return d, nil
	}
	i, _ := slices.BinarySearchFunc(p.marks, pos, func(m digestMark, pos int64) int { return cmp.Compare(m.pos, pos) })
	if i == len(p.marks) || p.marks[i].pos > pos {
		i--
	}
	from, d := p.marks[i].pos, p.marks[i].d
	if sr, ok := l.(streamReader); ok && len(sc.pull) > 0 && pos-from > digestBlock {
		// A narrow scope far from its last mark: sum its streams' events
		// (the digest does not depend on order) rather than read the
		// tenant's ledger up to pos.
		if names == nil {
			names = func(ctx context.Context) ([]string, bool, error) { return scopeStreams(ctx, sr, sc) }
		}
		sd, ok, err := scopedDigest(ctx, sr, names, pos, p.streams, p.ledger)
		if err != nil {
			return eventstore.Digest{}, err
		}
		if ok {
			p.setHead(pos, sd)
			return sd, nil
		}
	}
	// Reading on from the last mark, record a mark at each block boundary
	// the read passes: once an event after boundary b arrives, d is the
	// digest up to b (positions come in ascending order).
	extend, next := i == len(p.marks)-1, from+digestBlock
	mark := func(before int64) {
		for ; extend && next < before && next <= pos; next += digestBlock {
			p.marks = append(p.marks, digestMark{pos: next, d: d})
		}
	}
	err := digestRange(ctx, l, sc, from, pos, func(e eventstore.Event) {
		mark(e.Position)
		d.Add(e, e.Position)
	})
	if err != nil {
		return eventstore.Digest{}, err
	}
	mark(pos + 1)
	return d, nil
}

// noteHead records d as the digest up to pos (a catch-up's head).
func (p *prefixDigests) noteHead(pos int64, d eventstore.Digest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setHead(pos, d)
}

// setHead is noteHead with p.mu held.
func (p *prefixDigests) setHead(pos int64, d eventstore.Digest) {
	if len(p.heads) >= maxDigestHeads {
		for k := range p.heads { // drop an arbitrary one
			delete(p.heads, k)
			break
		}
	}
	p.heads[pos] = d
}

// digestRange calls add with every event of scope sc in l after position
// from and up to position to, in position order.
func digestRange(ctx context.Context, l Ledger, sc scope, from, to int64, add func(eventstore.Event)) error {
	const page = 1000
	for from < to {
		n := 0
		for e, err := range l.ReadAll(ctx, from, page) {
			if err != nil {
				return err
			}
			n++
			if e.Position > to {
				return nil
			}
			from = e.Position
			if sc.readable(e.Stream) {
				add(e)
			}
		}
		if n < page {
			return nil
		}
	}
	return nil
}
