package aggregate

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is.
var (
	// ErrAggregateNotFound reports a load of an aggregate whose stream
	// holds no events.
	ErrAggregateNotFound = errors.New("aggregate: not found")
	// ErrInvalidCommand reports a command whose input is invalid in itself,
	// whatever the aggregate's state.
	ErrInvalidCommand = errors.New("aggregate: invalid command")
	// ErrRejected reports a command refused by a business rule given the
	// aggregate's current state.
	ErrRejected = errors.New("aggregate: command rejected")
	// ErrUnbound reports Raise on an aggregate that no Repository created or
	// loaded.
	ErrUnbound = errors.New("aggregate: Raise on an aggregate not made by a Repository")
)

// ValidationError reports invalid command input. Field names the offending
// input field, when there is one. It unwraps to ErrInvalidCommand and, when
// it wraps an error from a Validate method, to that error.
type ValidationError struct {
	Field  string
	Reason string
	Err    error
}

// Error describes the failure.
func (e *ValidationError) Error() string {
	msg := "aggregate: invalid command"
	if e.Field != "" {
		msg += ": field " + e.Field
	}
	return msg + ": " + e.Reason
}

// Unwrap returns ErrInvalidCommand and the wrapped error, if any.
func (e *ValidationError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalidCommand}
	}
	return []error{ErrInvalidCommand, e.Err}
}

// Invalid returns a *ValidationError for field, for commands and Validate
// methods to report invalid input.
func Invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Reject returns an error, wrapping ErrRejected, for a command refused by a
// business rule.
func Reject(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRejected, fmt.Sprintf(format, args...))
}

// asValidation makes err, returned by a Validate method, a validation error.
func asValidation(err error) error {
	if errors.Is(err, ErrInvalidCommand) {
		return err
	}
	return &ValidationError{Reason: err.Error(), Err: err}
}
