package wirejson

import (
	"encoding/json"
	"unicode/utf8"
)

// The fast decoder's lexical layer: whitespace, punctuation, strings,
// numbers, literals, and whole values validated (and skipped or copied)
// by the JSON grammar.

// ws skips whitespace, noting whether there was any.
func (d *decoder) ws() {
	start := d.i
	for d.i < len(d.b) && isSpace(d.b[d.i]) {
		d.i++
	}
	if d.i != start {
		d.space = true
	}
}

// open consumes c ('{' or '[') after optional whitespace.
func (d *decoder) open(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// closing consumes c ('}' or ']') when it comes next: the container is
// empty.
func (d *decoder) closing(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// next consumes ',' (more is true) or the closing c (more is false).
func (d *decoder) next(c byte) (more, ok bool) {
	d.ws()
	if d.i < len(d.b) {
		switch d.b[d.i] {
		case ',':
			d.i++
			return true, true
		case c:
			d.i++
			return false, true
		}
	}
	return false, false
}

// key reads an object key and its ':', and returns the key's bytes within
// the frame; keys with escapes are refused.
func (d *decoder) key() ([]byte, bool) {
	d.ws()
	s, ok := d.rawString()
	if !ok {
		return nil, false
	}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != ':' {
		return nil, false
	}
	d.i++
	return s, true
}

// rawString reads a string without escapes or control characters, in
// valid UTF-8 (what encoding/json returns unchanged), and returns its bytes
// within the frame.
func (d *decoder) rawString() ([]byte, bool) {
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	start := d.i + 1
	ascii := true
	for i := start; i < len(d.b); i++ {
		switch c := d.b[i]; {
		case c == '"':
			d.i = i + 1
			s := d.b[start:i]
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// string reads a string field.
func (d *decoder) string(out *string) bool {
	s, ok := d.rawString()
	if ok {
		*out = string(s)
	}
	return ok
}

// sharedString reads a string field, sharing the string with earlier
// fields of the same value.
func (d *decoder) sharedString(out *string) bool {
	b, ok := d.rawString()
	if !ok {
		return false
	}
	if !d.share { // the first event of its list: nothing to share with yet
		*out = string(b)
		return true
	}
	if s, ok := d.intern[string(b)]; ok {
		*out = s
		return true
	}
	s := string(b)
	if d.intern == nil {
		d.intern = make(map[string]string, 8)
	}
	if len(d.intern) < maxIntern {
		d.intern[s] = s
	}
	*out = s
	return true
}

// int reads an integer as encoding/json does into an int64 (or an int on a
// 64-bit platform): an optional minus and digits without a leading zero;
// fractions, exponents and overflow are refused.
func (d *decoder) int(out *int64) bool {
	d.ws()
	i := d.i
	neg := i < len(d.b) && d.b[i] == '-'
	if neg {
		i++
	}
	start := i
	var v uint64
	for ; i < len(d.b) && d.b[i] >= '0' && d.b[i] <= '9'; i++ {
		if v > (1<<63)/10 {
			return false
		}
		v = v*10 + uint64(d.b[i]-'0')
	}
	n := i - start
	switch {
	case n == 0, n > 1 && d.b[start] == '0', n > 19:
		return false
	case i < len(d.b) && (d.b[i] == '.' || d.b[i] == 'e' || d.b[i] == 'E'):
		return false
	case neg && v > 1<<63, !neg && v > 1<<63-1:
		return false
	}
	d.i = i
	if neg {
		*out = -int64(v)
	} else {
		*out = int64(v)
	}
	return true
}

// bool reads true or false.
func (d *decoder) bool(out *bool) bool {
	d.ws()
	switch {
	case hasPrefixAt(d.b, d.i, "true"):
		*out, d.i = true, d.i+4
	case hasPrefixAt(d.b, d.i, "false"):
		*out, d.i = false, d.i+5
	default:
		return false
	}
	return true
}

// timestamp reads an HLC timestamp: 16 hex digits, as Timestamp's
// UnmarshalText accepts them.
func (d *decoder) timestamp(out *Timestamp) bool {
	s, ok := d.rawString()
	if !ok || len(s) != 16 {
		return false
	}
	var v uint64
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return false
		}
		v = v<<4 | uint64(c)
	}
	*out = Timestamp(v)
	return true
}

// raw reads any JSON value into the arena, compacted (as decodeEvents
// leaves Data and Meta).
func (d *decoder) raw(out *json.RawMessage) bool {
	d.ws()
	start := d.i
	d.space = false
	if !d.value(0) {
		return false
	}
	src := d.b[start:d.i]
	if d.arena == nil {
		d.arena = make([]byte, 0, len(d.b)-start)
	}
	n := len(d.arena)
	d.arena = append(d.arena, src...)
	if d.space {
		d.arena = d.arena[:n+len(compactInPlace(d.arena[n:]))]
	}
	*out = d.arena[n:len(d.arena):len(d.arena)]
	return true
}

// value skips one valid JSON value, following at most maxFastDepth levels
// of nesting.
func (d *decoder) value(depth int) bool {
	d.ws()
	if d.i >= len(d.b) {
		return false
	}
	switch c := d.b[d.i]; c {
	case '{', '[':
		if depth >= maxFastDepth {
			return false
		}
		d.i++
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		if d.closing(end) {
			return true
		}
		for {
			if c == '{' {
				d.ws()
				if !d.skipString() {
					return false
				}
				d.ws()
				if d.i >= len(d.b) || d.b[d.i] != ':' {
					return false
				}
				d.i++
			}
			if !d.value(depth + 1) {
				return false
			}
			more, ok := d.next(end)
			if !ok {
				return false
			}
			if !more {
				return true
			}
		}
	case '"':
		return d.skipString()
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	}
	return d.number()
}

func (d *decoder) literal(lit string) bool {
	return d.skip(lexLiteral(d.b, d.i, lit))
}

// skipString skips a valid JSON string (see lexString).
func (d *decoder) skipString() bool { return d.skip(lexString(d.b, d.i)) }

// number skips a JSON number.
func (d *decoder) number() bool { return d.skip(lexNumber(d.b, d.i)) }

// skip moves to end, the index after a token, unless it is -1 (no token).
func (d *decoder) skip(end int) bool {
	if end < 0 {
		return false
	}
	d.i = end
	return true
}

func hasPrefixAt(b []byte, i int, s string) bool {
	return len(b)-i >= len(s) && string(b[i:i+len(s)]) == s
}
