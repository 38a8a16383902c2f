package hub

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

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
	left := make([]*conn, 60)
	for i := range left {
		var pull, tok []string
		for range rng.IntN(3) {
			pull = append(pull, prefixes[rng.IntN(len(prefixes))])
		}
		for range rng.IntN(2) {
			tok = append(tok, prefixes[rng.IntN(len(prefixes))])
		}
		left[i] = &conn{scope: scope{token: tok, pull: pullSet(pull)}}
		x.add(left[i])
	}
	for len(left) > 0 {
		i := rng.IntN(len(left))
		x.remove(left[i])
		left = slices.Delete(left, i, i+1)
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
