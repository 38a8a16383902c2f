package eventstore

import (
	"math"
	"strconv"
)

// ExpectedVersion states what an append expects of a stream's version (the
// number of events it holds). The zero value is Any.
type ExpectedVersion struct {
	kind expectKind
	n    int64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectStreamExists
	expectExact
)

var (
	// Any accepts the stream in any state. It is the zero value.
	Any = ExpectedVersion{}
	// NoStream requires that the stream holds no events.
	NoStream = ExpectedVersion{kind: expectNoStream}
	// StreamExists requires that the stream holds at least one event.
	StreamExists = ExpectedVersion{kind: expectStreamExists}
)

// Exact requires that the stream holds exactly n events. Exact(0) is
// equivalent to NoStream.
func Exact(n int64) ExpectedVersion {
	if n <= 0 {
		return NoStream
	}
	return ExpectedVersion{kind: expectExact, n: n}
}

// Check returns a *ConflictError when actual does not satisfy e.
func (e ExpectedVersion) Check(stream string, actual int64) error {
	ok := true
	switch e.kind {
	case expectNoStream:
		ok = actual == 0
	case expectStreamExists:
		ok = actual > 0
	case expectExact:
		ok = actual == e.n
	}
	if ok {
		return nil
	}
	return &ConflictError{Stream: stream, Expected: e, Actual: actual}
}

// Bounds returns the stream versions that satisfy e: lo <= version <= hi,
// with hi = math.MaxInt64 when there is no upper bound. Backends that check
// expectations inside a statement use it; Check is the same test in Go.
func (e ExpectedVersion) Bounds() (lo, hi int64) {
	switch e.kind {
	case expectNoStream:
		return 0, 0
	case expectStreamExists:
		return 1, math.MaxInt64
	case expectExact:
		return e.n, e.n
	default:
		return 0, math.MaxInt64
	}
}

// String describes the expectation, e.g. "exact(3)".
func (e ExpectedVersion) String() string {
	switch e.kind {
	case expectNoStream:
		return "no-stream"
	case expectStreamExists:
		return "stream-exists"
	case expectExact:
		return "exact(" + strconv.FormatInt(e.n, 10) + ")"
	default:
		return "any"
	}
}
