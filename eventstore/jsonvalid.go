package eventstore

// validJSON reports whether b is exactly one JSON value (RFC 8259), with
// optional whitespace around it. It accepts what encoding/json.Valid
// accepts, nesting limit included (FuzzValidJSON compares the two), at a
// fraction of the cost: every event stored is checked, and on a pull the
// check runs on the store's single writer. Like encoding/json it takes
// bytes of 0x80 and above inside strings as they come; callers check UTF-8
// separately.
func validJSON(b []byte) bool {
	// open records the containers entered: true for an object. The first
	// levels live in the array; deeper documents grow a slice.
	var small [64]bool
	open := small[:0]
	i := jsonSpace(b, 0)
	for {
		// A value starts at i.
		if i >= len(b) {
			return false
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(open) == maxJSONDepth {
				return false
			}
			open = append(open, c == '{')
			i = jsonSpace(b, i+1)
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				open = open[:len(open)-1]
				i++
				break
			}
			if c == '{' {
				if i = jsonMember(b, i); i < 0 {
					return false
				}
			}
			continue
		case '"':
			if i = jsonString(b, i); i < 0 {
				return false
			}
		case 't':
			i = jsonLiteral(b, i, "true")
		case 'f':
			i = jsonLiteral(b, i, "false")
		case 'n':
			i = jsonLiteral(b, i, "null")
		default:
			i = jsonNumber(b, i)
		}
		if i < 0 {
			return false
		}
		// A value ended at i: close containers, or go on to the next
		// element.
		for {
			i = jsonSpace(b, i)
			if len(open) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			obj := open[len(open)-1]
			switch c := b[i]; {
			case c == ',':
				i = jsonSpace(b, i+1)
				if obj {
					if i = jsonMember(b, i); i < 0 {
						return false
					}
				}
			case obj && c == '}' || !obj && c == ']':
				open = open[:len(open)-1]
				i++
				continue
			default:
				return false
			}
			break
		}
	}
}

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// jsonMember skips an object member's key and colon from i, returning where
// its value starts, or -1.
func jsonMember(b []byte, i int) int {
	if i = jsonString(b, i); i < 0 {
		return -1
	}
	i = jsonSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return jsonSpace(b, i+1)
}

func jsonSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// jsonString skips the string at i, returning the index after its closing
// quote, or -1.
func jsonString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for i++; i < len(b); i++ {
		for i < len(b) && plainInString[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i <= 4 {
					return -1
				}
				for _, h := range b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// plainInString marks the bytes a string holds as they are: not a control
// character, a quote or a backslash.
var plainInString = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func jsonLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// jsonNumber skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at i,
// returning the index after it, or -1.
func jsonNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = jsonDigits(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := jsonDigits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := jsonDigits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func jsonDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
