package errs

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMessage(t *testing.T) {
	cause := errors.New("boom")
	assert.Equal(t, "head", Message("head", Opt(": ", ""), Event(""), Cause(nil)))
	assert.Equal(t, "head (event e1): why: boom", Message("head", Event("e1"), Opt(": ", "why"), Cause(cause)))
	assert.Equal(t, "head [x]", Message("head", Part{Before: " [", Text: "x", After: "]"}))
}

func TestUnwrap(t *testing.T) {
	sentinel, cause := errors.New("sentinel"), errors.New("cause")
	assert.Equal(t, []error{sentinel}, Unwrap(sentinel, nil))
	assert.Equal(t, []error{sentinel, cause}, Unwrap(sentinel, cause))
	assert.Empty(t, Unwrap(nil, nil))
}
