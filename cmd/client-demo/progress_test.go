package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	// Not a terminal: nothing is drawn.
	b := newBar(&buf, "pulling")
	b.set(10, 1000)
	b.finish()
	assert.Empty(t, buf.String())

	isTerminal = func(io.Writer) bool { return true }
	t.Cleanup(func() { isTerminal = defaultIsTerminal })

	b = newBar(&buf, "pulling")
	b.set(5, 100) // short work: no bar
	assert.Empty(t, buf.String())
	b.set(500, 1000)
	assert.Equal(t, "\rpulling [###############...............]  50% 500/1000 events", buf.String())
	b.set(600, 1000) // within 100ms of the last draw: skipped
	assert.Equal(t, 1, strings.Count(buf.String(), "\r"))
	b.set(1000, 1000) // the end is always drawn
	assert.Contains(t, buf.String(), "100% 1000/1000 events")
	b.finish()
	assert.True(t, strings.HasSuffix(buf.String(), "\r\033[K"), "the line is cleared")

	// Neither a writer that is not a file, nor a file that is not a terminal.
	assert.False(t, defaultIsTerminal(io.Discard))
	f, err := os.CreateTemp(t.TempDir(), "out")
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, defaultIsTerminal(f))
}
