package eventstore

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ferrysync/ferry/internal/errs"
)

// Sentinel errors. Backends map driver errors to these at their boundary, so
// callers can always test with errors.Is.
var (
	// ErrConcurrency reports that an expected version did not match.
	ErrConcurrency = errors.New("eventstore: concurrency conflict")
	// ErrUnknownEventType reports an event whose type is not registered.
	ErrUnknownEventType = errors.New("eventstore: unknown event type")
	// ErrInvalidEvent reports an event whose envelope, data or meta is invalid.
	ErrInvalidEvent = errors.New("eventstore: invalid event")
	// ErrNotFound reports a missing snapshot, state key or similar record.
	ErrNotFound = errors.New("eventstore: not found")
	// ErrClockDrift reports a remote timestamp too far in the future.
	ErrClockDrift = errors.New("eventstore: remote clock too far ahead")
	// ErrClosed reports use of a closed store.
	ErrClosed = errors.New("eventstore: store closed")
	// ErrIncompatibleSchema reports a database whose schema this version of
	// Ferry cannot use (written by a newer Ferry, or not a Ferry database).
	ErrIncompatibleSchema = errors.New("eventstore: incompatible database schema")
	// ErrOriginChanged reports a store opened with an origin other than
	// the one it belongs to.
	ErrOriginChanged = errors.New("eventstore: store belongs to another origin")
	// ErrUnpushed reports streams that hold local events the hub has not
	// acknowledged, which Evicter.Evict refuses to remove.
	ErrUnpushed = errors.New("eventstore: stream holds unpushed local events")
)

// ConflictError is returned when an append's expected version does not match
// the stream's actual version. It unwraps to ErrConcurrency.
type ConflictError struct {
	Stream   string
	Expected ExpectedVersion
	Actual   int64
}

// Error implements the error interface.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("eventstore: concurrency conflict on stream %q: expected %s, actual version %d", e.Stream, e.Expected, e.Actual)
}

// Unwrap returns ErrConcurrency.
func (e *ConflictError) Unwrap() error { return ErrConcurrency }

// UnknownTypeError names an event type that is not registered. It unwraps to
// ErrUnknownEventType.
type UnknownTypeError struct {
	Type string
}

// Error implements the error interface.
func (e *UnknownTypeError) Error() string {
	return fmt.Sprintf("eventstore: unknown event type %q", e.Type)
}

// Unwrap returns ErrUnknownEventType.
func (e *UnknownTypeError) Unwrap() error { return ErrUnknownEventType }

// ValidationError describes why an event is invalid. Field names the
// offending field: an envelope field such as "stream" or "id", or a path
// inside the payload such as "data.title". It unwraps to ErrInvalidEvent.
type ValidationError struct {
	EventID string
	Type    string
	Field   string
	Reason  string
}

// Error implements the error interface.
func (e *ValidationError) Error() string {
	return errs.Message("eventstore: invalid event", errs.Opt(" ", e.Type),
		errs.Part{Before: " (", Text: e.EventID, After: ")"}, errs.Opt(": field ", e.Field)) + ": " + e.Reason
}

// Unwrap returns ErrInvalidEvent.
func (e *ValidationError) Unwrap() error { return ErrInvalidEvent }

// FieldError returns a *ValidationError for a payload field. Validators
// return it to name the field that failed; the store fills in the event's
// type and id.
func FieldError(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ClockDriftError reports a remote timestamp beyond the clock's tolerance. It
// unwraps to ErrClockDrift.
type ClockDriftError struct {
	Remote   Timestamp
	Local    Timestamp
	MaxDrift int64 // milliseconds
	// Physical is the local physical time (corrected by the clock's
	// offset) the check used.
	Physical Timestamp
}

// RetryAfter returns how long until Remote is within MaxDrift of the local
// physical time, as it stood at the check: when an event refused for it
// could be taken.
func (e *ClockDriftError) RetryAfter() time.Duration {
	ms := max(0, e.Remote.Millis()-e.Physical.Millis()-e.MaxDrift)
	return time.Duration(min(ms, math.MaxInt64/int64(time.Millisecond))) * time.Millisecond // no overflow
}

// Error implements the error interface.
func (e *ClockDriftError) Error() string {
	return fmt.Sprintf("eventstore: remote timestamp %s is more than %dms ahead of local clock %s", e.Remote, e.MaxDrift, e.Local)
}

// Unwrap returns ErrClockDrift.
func (e *ClockDriftError) Unwrap() error { return ErrClockDrift }

// OriginError is returned when a store that keeps its origin is opened with
// another Config.Origin. It unwraps to ErrOriginChanged.
type OriginError struct {
	// Stored is the origin the store belongs to.
	Stored string
	// Configured is the one it was opened with.
	Configured string
}

// Error implements the error interface.
func (e *OriginError) Error() string {
	return fmt.Sprintf("eventstore: the store belongs to origin %q, not %q (leave Config.Origin empty to use the stored one)", e.Stored, e.Configured)
}

// Unwrap returns ErrOriginChanged.
func (e *OriginError) Unwrap() error { return ErrOriginChanged }

// UnpushedError is returned by Evicter.Evict when some of the streams
// hold local events the hub has not acknowledged; nothing is evicted. It
// unwraps to ErrUnpushed.
type UnpushedError struct {
	// Streams are those streams, sorted.
	Streams []string
}

// Error implements the error interface.
func (e *UnpushedError) Error() string {
	if len(e.Streams) == 1 {
		return fmt.Sprintf("eventstore: stream %q holds unpushed local events; not evicted", e.Streams[0])
	}
	return fmt.Sprintf("eventstore: %d streams (%q first) hold unpushed local events; none evicted", len(e.Streams), e.Streams[0])
}

// Unwrap returns ErrUnpushed.
func (e *UnpushedError) Unwrap() error { return ErrUnpushed }
