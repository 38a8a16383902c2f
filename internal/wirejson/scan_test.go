package wirejson

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCountArray(t *testing.T) {
	tests := []struct {
		raw  string
		max  int
		n    int
		isOK bool
	}{
		{`[]`, 5, 0, true},
		{` [ ] `, 5, 0, true},
		{`[1]`, 5, 1, true},
		{`[1,2,3]`, 5, 3, true},
		{`[[1,2],{"a":[3,4],"b":"x,y]"},"\"],["]`, 5, 3, true},
		{`["\\",","]`, 5, 2, true},
		{`[1,2,3,4,5,6,7,8]`, 3, 4, true}, // stops at max+1
		{`{}`, 5, 0, false},
		{`"x"`, 5, 0, false},
		{`null`, 5, 0, false},
		{``, 5, 0, false},
	}
	for _, tc := range tests {
		n, ok := countArray([]byte(tc.raw), tc.max)
		assert.Equal(t, tc.isOK, ok, tc.raw)
		assert.Equal(t, tc.n, n, tc.raw)
	}
}

func TestCompactInPlace(t *testing.T) {
	for _, doc := range []string{
		`{}`,
		` { "a" : [ 1 , 2 ] ,	"b" :
		 "x y \" z \\" } `,
		`"  spaced  "`,
		`[ true , false , null , -1.5e3 ]`,
		`{"html":"<a href=\"x\">&</a>","ls":"\u2028"}`,
		"{\"raw line separator\":\"\u2028\u2029\"}",
	} {
		var want bytes.Buffer
		require.NoError(t, json.Compact(&want, []byte(doc)))
		got := compactInPlace([]byte(doc))
		assert.Equal(t, want.String(), string(got), doc)

		// Encoding a compacted RawMessage with HTML escaping off leaves it
		// unchanged, which is what makes decode/encode round trips stable.
		var enc bytes.Buffer
		e := json.NewEncoder(&enc)
		e.SetEscapeHTML(false)
		require.NoError(t, e.Encode(json.RawMessage(got)))
		assert.Equal(t, string(got)+"\n", enc.String())
	}
}

func TestTruncate(t *testing.T) {
	assert.Equal(t, "abc", Truncate("abc", 5))
	assert.Equal(t, "ab", Truncate("abc", 2))
	assert.Equal(t, "a", Truncate("aé", 2), "never split a UTF-8 sequence")
	assert.Equal(t, "aé", Truncate("aé", 3))
}
