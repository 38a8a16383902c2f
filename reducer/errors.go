package reducer

import (
	"errors"
	"fmt"

	"github.com/ferrysync/ferry/internal/errs"
)

// Sentinel errors, for errors.Is.
var (
	// ErrUnhandled reports an event whose type has no handler, folded by a
	// reducer that rejects unknown types.
	ErrUnhandled = errors.New("reducer: unhandled event type")
	// ErrDecode reports an event payload that does not decode into the
	// handler's data type.
	ErrDecode = errors.New("reducer: cannot decode event")
	// ErrSchemaVersion reports an event whose schema version cannot be
	// upcast to the current version of its type.
	ErrSchemaVersion = errors.New("reducer: unsupported event schema version")
	// ErrUnknownEvent reports a fold, by a reducer configured with
	// WithUnknownEvents(Reject), of an event its store kept Unknown.
	ErrUnknownEvent = errors.New("reducer: stream holds an event this app version does not know")
)

// UnknownEventError names the event, kept Unknown by the store, that a
// reducer refusing such events met. It unwraps to ErrUnknownEvent.
type UnknownEventError struct {
	Reducer string
	Type    string
	EventID string
}

// Error describes the failure.
func (e *UnknownEventError) Error() string {
	return fmt.Sprintf("reducer %s: event %s of type %q is unknown to this app version", e.Reducer, e.EventID, e.Type)
}

// Unwrap returns ErrUnknownEvent.
func (e *UnknownEventError) Unwrap() error { return ErrUnknownEvent }

// UnhandledError names an event type a reducer has no handler for. It
// unwraps to ErrUnhandled.
type UnhandledError struct {
	Reducer string
	Type    string
	EventID string
}

// Error describes the failure.
func (e *UnhandledError) Error() string {
	return fmt.Sprintf("reducer %s: no handler for event type %q (event %s)", e.Reducer, e.Type, e.EventID)
}

// Unwrap returns ErrUnhandled.
func (e *UnhandledError) Unwrap() error { return ErrUnhandled }

// DecodeError reports an event payload that did not decode into the data
// type of its handler. It unwraps to ErrDecode and to the decoder's error.
type DecodeError struct {
	Type    string
	EventID string
	Err     error
}

// Error describes the failure.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("reducer: decode %s event %s: %v", e.Type, e.EventID, e.Err)
}

// Unwrap returns ErrDecode and the decoder's error.
func (e *DecodeError) Unwrap() []error { return errs.Unwrap(ErrDecode, e.Err) }

// SchemaError reports an event of Type written with schema Version that
// cannot be brought to the Current version: no upcaster is registered for
// some step, the version is newer than the current one, or an upcaster
// failed (Err). It unwraps to ErrSchemaVersion and to Err.
type SchemaError struct {
	Type    string
	Version int
	Current int
	EventID string
	Reason  string
	Err     error
}

// Error describes the failure.
func (e *SchemaError) Error() string {
	head := fmt.Sprintf("reducer: event type %q schema version %d cannot be upcast to current version %d", e.Type, e.Version, e.Current)
	return errs.Message(head, errs.Event(e.EventID), errs.Opt(": ", e.Reason), errs.Cause(e.Err))
}

// Unwrap returns ErrSchemaVersion and, when an upcaster failed, its error.
func (e *SchemaError) Unwrap() []error { return errs.Unwrap(ErrSchemaVersion, e.Err) }
