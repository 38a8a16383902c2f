package wirejson

// Valid reports whether b is exactly one JSON value (RFC 8259), with
// optional whitespace around it. It accepts what encoding/json.Valid
// accepts, nesting limit included (FuzzValidJSON compares the two), at a
// fraction of the cost: every event stored is checked, and on a pull the
// check runs on the store's single writer. Like encoding/json it takes
// bytes of 0x80 and above inside strings as they come; callers check UTF-8
// separately.
func Valid(b []byte) bool {
	// open records the containers entered: true for an object. The first
	// levels live in the array; deeper documents grow a slice.
	var small [64]bool
	open := small[:0]
	i := space(b, 0)
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
			i = space(b, i+1)
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
			if i = lexString(b, i); i < 0 {
				return false
			}
		case 't':
			i = lexLiteral(b, i, "true")
		case 'f':
			i = lexLiteral(b, i, "false")
		case 'n':
			i = lexLiteral(b, i, "null")
		default:
			i = lexNumber(b, i)
		}
		if i < 0 {
			return false
		}
		// A value ended at i: close containers, or go on to the next
		// element.
		for {
			i = space(b, i)
			if len(open) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			obj := open[len(open)-1]
			switch c := b[i]; {
			case c == ',':
				i = space(b, i+1)
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
	if i = lexString(b, i); i < 0 {
		return -1
	}
	i = space(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return space(b, i+1)
}
