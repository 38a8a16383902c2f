package protocol

import (
	"errors"
	"fmt"
	"time"

	"github.com/ferrysync/ferry/internal/errs"
	"github.com/ferrysync/ferry/internal/wirejson"
)

// Sentinel errors, one per Code. An *Error unwraps to the sentinel of its
// Code, so callers test with errors.Is(err, protocol.ErrFrameTooLarge).
var (
	// ErrProtocolViolation is what an *Error with CodeProtocolViolation unwraps to.
	ErrProtocolViolation = errors.New("protocol: protocol violation")
	// ErrUnsupportedVersion is what an *Error with CodeUnsupportedVersion unwraps to.
	ErrUnsupportedVersion = errors.New("protocol: unsupported version")
	// ErrFrameTooLarge is what an *Error with CodeFrameTooLarge unwraps to.
	ErrFrameTooLarge = errors.New("protocol: frame too large")
	// ErrTooManyEvents is what an *Error with CodeTooManyEvents unwraps to.
	ErrTooManyEvents = errors.New("protocol: too many events")
	// ErrEventTooLarge is what an *Error with CodeEventTooLarge unwraps to.
	ErrEventTooLarge = errors.New("protocol: event too large")
	// ErrInvalidEvent is what an *Error with CodeInvalidEvent unwraps to.
	ErrInvalidEvent = errors.New("protocol: invalid event")
	// ErrUnknownType is what an *Error with CodeUnknownType unwraps to.
	ErrUnknownType = errors.New("protocol: unknown event type")
	// ErrClockDrift is what an *Error with CodeClockDrift unwraps to.
	ErrClockDrift = errors.New("protocol: clock drift")
	// ErrUnauthorized is what an *Error with CodeUnauthorized unwraps to.
	ErrUnauthorized = errors.New("protocol: unauthorized")
	// ErrForbiddenStream is what an *Error with CodeForbiddenStream unwraps to.
	ErrForbiddenStream = errors.New("protocol: forbidden stream")
	// ErrOverloaded is what an *Error with CodeOverloaded unwraps to.
	ErrOverloaded = errors.New("protocol: overloaded")
	// ErrSlowConsumer is what an *Error with CodeSlowConsumer unwraps to.
	ErrSlowConsumer = errors.New("protocol: slow consumer")
	// ErrGoingAway is what an *Error with CodeGoingAway unwraps to.
	ErrGoingAway = errors.New("protocol: going away")
	// ErrInternal is what an *Error with CodeInternal unwraps to.
	ErrInternal = errors.New("protocol: internal error")
)

var sentinels = map[Code]error{
	CodeProtocolViolation:  ErrProtocolViolation,
	CodeUnsupportedVersion: ErrUnsupportedVersion,
	CodeFrameTooLarge:      ErrFrameTooLarge,
	CodeTooManyEvents:      ErrTooManyEvents,
	CodeEventTooLarge:      ErrEventTooLarge,
	CodeInvalidEvent:       ErrInvalidEvent,
	CodeUnknownType:        ErrUnknownType,
	CodeClockDrift:         ErrClockDrift,
	CodeUnauthorized:       ErrUnauthorized,
	CodeForbiddenStream:    ErrForbiddenStream,
	CodeOverloaded:         ErrOverloaded,
	CodeSlowConsumer:       ErrSlowConsumer,
	CodeGoingAway:          ErrGoingAway,
	CodeInternal:           ErrInternal,
}

// Error is both the error Decode returns and the message (type "error") a
// peer sends before closing the connection, so a hub can answer a bad frame
// with the very value Decode gave it:
//
//	msg, err := protocol.Decode(frame, limits)
//	var perr *protocol.Error
//	if errors.As(err, &perr) {
//		// send perr, then close with perr.Code.CloseCode()
//	}
//
// It unwraps to the sentinel of its Code and, when Decode found the problem
// in a lower layer, to that cause as well (for an invalid event, an
// *eventstore.ValidationError).
type Error struct {
	// Code says what went wrong; it decides the close code and whether the
	// client resumes.
	Code Code `json:"code"`
	// Message is a human-readable explanation, at most MaxMessageBytes.
	Message string `json:"message,omitempty"`
	// EventID names the event the error is about, when there is one.
	EventID string `json:"event_id,omitempty"`
	// RetryAfterMS asks the client to wait this many milliseconds before
	// reconnecting (0: use its own backoff).
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
	// Resume tells the client to reconnect and resume pulling from its
	// cursor: the connection ended through no fault of the client.
	Resume bool `json:"resume,omitempty"`

	cause error
}

// NewError returns an *Error with code and a formatted message; Resume is
// set from Code.Resume.
func NewError(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Resume: code.Resume()}
}

// Type returns TypeError.
func (*Error) Type() Type { return TypeError }

// Error implements the error interface.
func (e *Error) Error() string {
	return errs.Message("protocol: "+string(e.Code), errs.Event(e.EventID), errs.Opt(": ", e.Message))
}

// Unwrap returns the sentinel of e's Code and the underlying cause, if any.
func (e *Error) Unwrap() []error { return errs.Unwrap(sentinels[e.Code], e.cause) }

// RetryAfter returns RetryAfterMS as a duration.
func (e *Error) RetryAfter() time.Duration { return time.Duration(e.RetryAfterMS) * time.Millisecond }

// errorf builds a decode error; the message is cut to MaxMessageBytes so the
// error can always be sent back as a message.
func errorf(code Code, format string, args ...any) *Error {
	e := NewError(code, format, args...)
	e.Message = truncate(e.Message, MaxMessageBytes)
	return e
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string { return wirejson.Truncate(s, n) }
