package jsonlex

import "testing"

func TestTokens(t *testing.T) {
	for _, c := range []struct {
		name string
		fn   func([]byte, int) int
		in   string
		want int // index after the token (the input starts with it), or -1
	}{
		{"String", String, `"abc",`, 5},
		{"String", String, `"a\"b\\c\/\u00e9\n"x`, 19},
		{"String", String, "\"caf\xc3\xa9\"", 7},
		{"String", String, `"abc`, -1},
		{"String", String, `"a\x"`, -1},
		{"String", String, `"\u12g4"`, -1},
		{"String", String, `"\u123`, -1},
		{"String", String, "\"a\nb\"", -1},
		{"String", String, `abc"`, -1},
		{"Number", Number, `0,`, 1},
		{"Number", Number, `-12.5e+3]`, 8},
		{"Number", Number, `1E9`, 3},
		{"Number", Number, `01`, 1}, // the 0 alone: the caller sees the 1 next
		{"Number", Number, `-`, -1},
		{"Number", Number, `1.`, -1},
		{"Number", Number, `1e+`, -1},
		{"Number", Number, `.5`, -1},
		{"Number", Number, `+1`, -1},
		{"Space", Space, " \t\r\n x", 5},
		{"Space", Space, "x", 0},
		{"Literal", func(b []byte, i int) int { return Literal(b, i, "true") }, `true,`, 4},
		{"Literal", func(b []byte, i int) int { return Literal(b, i, "true") }, `tru`, -1},
		{"Literal", func(b []byte, i int) int { return Literal(b, i, "null") }, `nul1`, -1},
	} {
		if got := c.fn([]byte(c.in), 0); got != c.want {
			t.Errorf("%s(%q) = %d, want %d", c.name, c.in, got, c.want)
		}
	}
}
