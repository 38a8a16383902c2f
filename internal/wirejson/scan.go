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
	inString, escaped := false, false
	for ; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
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
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case isSpace(c):
			continue
		case c == '"':
			inString = true
		}
		b[w] = c
		w++
	}
	return b[:w]
}
