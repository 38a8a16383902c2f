package wirejson

import "testing"

func TestTokens(t *testing.T) {
	for _, c := range []struct {
		name string
		fn   func([]byte, int) int
		in   string
		want int // index after the token (the input starts with it), or -1
	}{
		{"String", lexString, `"abc",`, 5},
		{"String", lexString, `"a\"b\\c\/\u00e9\n"x`, 19},
		{"String", lexString, "\"caf\xc3\xa9\"", 7},
		{"String", lexString, `"abc`, -1},
		{"String", lexString, `"a\x"`, -1},
		{"String", lexString, `"\u12g4"`, -1},
		{"String", lexString, `"\u123`, -1},
		{"String", lexString, "\"a\nb\"", -1},
		{"String", lexString, `abc"`, -1},
		{"Number", lexNumber, `0,`, 1},
		{"Number", lexNumber, `-12.5e+3]`, 8},
		{"Number", lexNumber, `1E9`, 3},
		{"Number", lexNumber, `01`, 1}, // the 0 alone: the caller sees the 1 next
		{"Number", lexNumber, `-`, -1},
		{"Number", lexNumber, `1.`, -1},
		{"Number", lexNumber, `1e+`, -1},
		{"Number", lexNumber, `.5`, -1},
		{"Number", lexNumber, `+1`, -1},
		{"Space", space, " \t\r\n x", 5},
		{"Space", space, "x", 0},
		{"Literal", func(b []byte, i int) int { return lexLiteral(b, i, "true") }, `true,`, 4},
		{"Literal", func(b []byte, i int) int { return lexLiteral(b, i, "true") }, `tru`, -1},
		{"Literal", func(b []byte, i int) int { return lexLiteral(b, i, "null") }, `nul1`, -1},
	} {
		if got := c.fn([]byte(c.in), 0); got != c.want {
			t.Errorf("%s(%q) = %d, want %d", c.name, c.in, got, c.want)
		}
	}
}
