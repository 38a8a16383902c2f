package client

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestHeldIn(t *testing.T) {
	events := []held{{hub: 2, id: "a"}, {hub: 3, id: "b"}, {hub: 3, id: "b2"}, {hub: 7, id: "c"}, {hub: 9, id: "d"}}
	ids := func(hs []held) (out []string) {
		for _, h := range hs {
			out = append(out, h.id)
		}
		return out
	}
	assert.Equal(t, []string{"a", "b", "b2", "c", "d"}, ids(heldIn(events, 0, math.MaxInt64)))
	assert.Equal(t, []string{"b", "b2", "c"}, ids(heldIn(events, 2, 7)), "after from, up to to")
	assert.Equal(t, []string{"d"}, ids(heldIn(events, 7, math.MaxInt64)))
	assert.Empty(t, heldIn(events, 3, 6))
	assert.Empty(t, heldIn(events, 9, 20))
	assert.Empty(t, heldIn(events, 5, 4), "an empty range")
	assert.Empty(t, heldIn(nil, 0, 10))
}
