package aggregate

import (
	"errors"
	"fmt"

	"github.com/ferrysync/ferry/internal/errs"
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
	return errs.Message("aggregate: invalid command", errs.Opt(": field ", e.Field)) + ": " + e.Reason
}

// Unwrap returns ErrInvalidCommand and the wrapped error, if any.
func (e *ValidationError) Unwrap() []error { return errs.Unwrap(ErrInvalidCommand, e.Err) }

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
