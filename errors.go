package ferry

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrInvalidOptions reports Options that Open cannot wire: an
	// *OptionsError unwraps to it.
	ErrInvalidOptions = errors.New("ferry: invalid options")
	// ErrNoHub is returned by Sync when Options.Sync has no URL.
	ErrNoHub = errors.New("ferry: no hub configured (Options.Sync.URL)")
	// ErrRunning is returned by Run when the app is already running.
	ErrRunning = errors.New("ferry: already running")
)

// OptionsError names the field of Options that Open refuses, and why. It
// unwraps to ErrInvalidOptions.
type OptionsError struct {
	// Field is the Options field, e.g. "Projections".
	Field string
	// Reason says what is wrong.
	Reason string
}

// Error implements the error interface.
func (e *OptionsError) Error() string {
	return fmt.Sprintf("ferry: Options.%s: %s", e.Field, e.Reason)
}

// Unwrap returns ErrInvalidOptions.
func (e *OptionsError) Unwrap() error { return ErrInvalidOptions }

func optionsError(field, format string, args ...any) error {
	return &OptionsError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
