package hub

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPullSetMatchesLikeALinearScan: matchSorted over pullSet agrees with
// matchPrefix over the prefixes as given, on random prefixes that cover
// one another, duplicates and streams around them.
func TestPullSetMatchesLikeALinearScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var prefixes []string
		for range rng.IntN(12) {
			prefixes = append(prefixes, randomWord(rng))
		}
		set := pullSet(prefixes)
		for range 50 {
			s := randomWord(rng) + randomWord(rng)
			require.Equal(t, matchPrefix(prefixes, s), matchSorted(set, s), "prefixes %q (set %q), stream %q", prefixes, set, s)
		}
	}
	require.Nil(t, pullSet(nil))
	require.True(t, matchSorted(nil, "anything"), "no pull prefixes: every stream")
}

// randomWord returns 1 to 4 bytes drawn from rng out of "a", "b" and "/":
// stream names and prefixes that often cover one another.
func randomWord(rng *rand.Rand) string {
	var b strings.Builder
	for range 1 + rng.IntN(4) {
		b.WriteByte("ab/"[rng.IntN(3)])
	}
	return b.String()
}
