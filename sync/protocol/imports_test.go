package protocol_test

import (
	"go/build"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoReflect: the protocol encodes and decodes frames through
// internal/wirejson's hand-written codec, never by reflecting on struct
// layouts; its non-test code imports no reflect.
func TestNoReflect(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	require.NoError(t, err)
	assert.False(t, slices.Contains(pkg.Imports, "reflect"), "sync/protocol imports reflect")
	assert.True(t, slices.Contains(pkg.Imports, "github.com/ferrysync/ferry/internal/wirejson"))
}
