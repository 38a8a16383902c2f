package wirejson

// countArray counts the elements of the JSON array raw, which must be valid
// JSON (encoding/json has checked it). It stops counting once the count
// exceeds max, so it returns at most max+1. ok is false when raw is not an
// array.
func countArray(raw []byte, max int) (n int, ok bool) {
	i := space(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return 0, false
	}
	i = space(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return 0, true
	}
	n = 1
	depth := 0
	var str stringState
	for ; i < len(raw); i++ {
		c := raw[i]
		if str.inside(c) {
			continue
		}
		switch c {
		case '"':
			str.in = true
		case '[', '{':
			depth++
		case ']', '}':
			if depth == 0 {
				return n, true
			}
			depth--
		case ',':
			if depth == 0 {
				n++
				if n > max {
					return n, true
				}
			}
		}
	}
	return n, true
}

// compactInPlace removes insignificant whitespace from the valid JSON b,
// reusing its memory: the same result as json.Compact, which is what
// encoding/json does to a json.RawMessage it encodes with HTML escaping off.
func compactInPlace(b []byte) []byte {
	w := 0
	var str stringState
	for _, c := range b {
		switch {
		case str.inside(c):
		case isSpace(c):
			continue
		case c == '"':
			str.in = true
		}
		b[w] = c
		w++
	}
	return b[:w]
}

// stringState follows the strings of valid JSON a byte at a time: set in
// at the opening quote, then call inside with every byte after it.
type stringState struct{ in, escaped bool }

// inside reports whether c belongs to the string being read (its closing
// quote included), and notes where the string ends.
func (s *stringState) inside(c byte) bool {
	if !s.in {
		return false
	}
	switch {
	case s.escaped:
		s.escaped = false
	case c == '\\':
		s.escaped = true
	case c == '"':
		s.in = false
	}
	return true
}
