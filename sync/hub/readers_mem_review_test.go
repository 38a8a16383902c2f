package hub

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// TestReviewIndexCostOfWideScopes: a device subscribed to 10,000 streams
// of its own (protocol.MaxPullPrefixes) holds its pull set, ~16 bytes a
// prefix plus the names; the readers index must not cost many times that
// per connection (it was 2.4 MB, against ~30 KB for an idle connection:
// 1,000 such devices, 2.4 GB), nor a long hold of the tenant's log lock.
func TestReviewIndexCostOfWideScopes(t *testing.T) {
	const conns = 20
	cs := make([]*conn, conns)
	for i := range cs {
		p := make([]string, protocol.MaxPullPrefixes)
		for j := range p {
			p[j] = fmt.Sprintf("dev%03d/item/%05d", i, j)
		}
		cs[i] = &conn{scope: scope{pull: pullSet(p)}}
	}
	var x readerIndex
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for _, c := range cs {
		x.add(c)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := int64(m1.HeapAlloc-m0.HeapAlloc) / conns
	t.Logf("readers index: %d KB per connection of %d prefixes", per>>10, protocol.MaxPullPrefixes)
	if per > 1<<20 {
		t.Errorf("readers index: %d KB per connection of %d prefixes, want at most 1 MB", per>>10, protocol.MaxPullPrefixes)
	}
	for _, c := range cs {
		x.remove(c)
	}
	if len(x.byPrefix) != 0 {
		t.Errorf("%d prefixes left", len(x.byPrefix))
	}
	runtime.KeepAlive(cs)
}

// TestReviewReaderIndexRemoveKeepsOthers: connections sharing prefixes
// (the common case: devices pulling the same lists) are removed in random
// order; after each removal the index finds exactly what a scan of the
// connections left finds.
func TestReviewReaderIndexRemoveKeepsOthers(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	prefixes := []string{"a", "a/", "a/b", "b", "é", "é/", "日本/"}
	streams := []string{"a", "a/1", "a/b/c", "b/x", "é/1", "éa", "日本/x", "c"}
	var x readerIndex
	newConn := func() *conn {
		var pull, tok []string
		for range rng.IntN(3) {
			pull = append(pull, prefixes[rng.IntN(len(prefixes))])
		}
		for range rng.IntN(2) {
			tok = append(tok, prefixes[rng.IntN(len(prefixes))])
		}
		c := &conn{scope: scope{token: tok, pull: pullSet(pull)}}
		x.add(c)
		return c
	}
	left := make([]*conn, 60)
	for i := range left {
		left[i] = newConn()
	}
	for round := 0; len(left) > 0; round++ {
		i := rng.IntN(len(left))
		x.remove(left[i])
		left = slices.Delete(left, i, i+1)
		if round < 100 && rng.IntN(2) == 0 { // prefixes come back after they went
			left = append(left, newConn())
		}
		for _, s := range streams {
			got := map[*conn]bool{}
			x.each([]string{s}, func(c *conn) { got[c] = true })
			want := map[*conn]bool{}
			for _, c := range left {
				if c.scope.readable(s) {
					want[c] = true
				}
			}
			require.Equal(t, want, got, "stream %q with %d connections left", s, len(left))
		}
	}
	require.Empty(t, x.byPrefix)
	require.Empty(t, x.all)
}

// TestReviewReaderIndexLongStreamNames: a commit's candidates are looked up
// under every prefix of each stream name, s[:0], s[:1], ... s[:len(s)],
// each a hash of up to 512 bytes under the tenant log's lock: a push of 500
// events on distinct 512-byte streams hashed ~65 MB (5.7 ms, 13 ms under
// the race detector) whatever the prefixes indexed. Only the lengths some
// prefix has need a lookup: with prefixes of at most 10 bytes, long names
// must cost about what short ones do.
func TestReviewReaderIndexLongStreamNames(t *testing.T) {
	var x readerIndex
	for i := range 1000 {
		x.add(&conn{scope: scope{pull: pullSet([]string{fmt.Sprintf("dev/%d/", i)})}})
	}
	names := func(n int) []string {
		out := make([]string, 500)
		for i := range out {
			out[i] = fmt.Sprintf("%03d", i) + strings.Repeat("y", n-3)
		}
		return out
	}
	cost := func(streams []string) time.Duration {
		best := time.Hour
		for range 5 {
			start := time.Now()
			x.each(streams, func(*conn) {})
			best = min(best, time.Since(start))
		}
		return best
	}
	short, long := cost(names(12)), cost(names(eventstore.MaxStreamLen))
	t.Logf("500 streams: %v at 12 bytes, %v at %d bytes", short, long, eventstore.MaxStreamLen)
	if long > 8*short+200*time.Microsecond {
		t.Errorf("500 streams of %d bytes cost %v, of 12 bytes %v", eventstore.MaxStreamLen, long, short)
	}
}
