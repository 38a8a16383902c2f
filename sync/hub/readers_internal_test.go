package hub

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReaderIndexFindsLikeAScan: on random token and pull scopes, the
// connections the readers index yields for a commit's streams are exactly
// those a scan of every connection's scope finds, and none after it is
// removed.
func TestReaderIndexFindsLikeAScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := func(max int) []string {
		out := make([]string, rng.IntN(max+1))
		for i := range out {
			out[i] = randomWord(rng)
		}
		return out
	}
	var x readerIndex
	conns := make([]*conn, 200)
	for i := range conns {
		conns[i] = &conn{scope: scope{token: words(2), pull: pullSet(words(3))}}
		x.add(conns[i])
	}
	found := func(streams []string) []*conn {
		var got []*conn
		x.each(streams, func(c *conn) {
			if !slices.Contains(got, c) {
				got = append(got, c)
			}
		})
		return got
	}
	for round := range 300 {
		streams := words(3)
		if len(streams) == 0 {
			streams = []string{randomWord(rng)}
		}
		var want []*conn
		for _, c := range conns {
			if slices.ContainsFunc(streams, c.scope.readable) {
				want = append(want, c)
			}
		}
		require.ElementsMatch(t, want, found(streams), "round %d, streams %q", round, streams)
	}
	for _, c := range conns {
		x.remove(c)
	}
	require.Empty(t, found([]string{"a", "ab/", "b/a"}))
	require.Empty(t, x.byPrefix)
	require.Empty(t, x.all)
}
