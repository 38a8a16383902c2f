package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGeneration: a file gets a generation when it is created and keeps
// it across opens; another file, or the same path recreated, has another.
func TestGeneration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "a.db")
	s := open(t, path, Options{})
	gen, err := s.Generation(ctx)
	require.NoError(t, err)
	assert.Len(t, gen, 26, "a ULID")
	appendN(t, s, "s", 2)
	require.NoError(t, s.Close())

	again := open(t, path, Options{})
	g2, err := again.Generation(ctx)
	require.NoError(t, err)
	assert.Equal(t, gen, g2, "kept in the file")
	require.NoError(t, again.Close())

	other := open(t, filepath.Join(dir, "b.db"), Options{})
	g3, err := other.Generation(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, gen, g3)

	require.NoError(t, other.Close())
	for _, suffix := range []string{"", "-wal", "-shm"} {
		require.NoError(t, os.RemoveAll(path+suffix))
	}
	fresh := open(t, path, Options{})
	g4, err := fresh.Generation(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, gen, g4, "a recreated file is a new ledger")
}

// TestGenerationOfOlderFile: a file written before generations gets one on
// its next open, and keeps it.
func TestGenerationOfOlderFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	s := open(t, path, Options{})
	require.NoError(t, s.Close())
	rawExec(t, path, "DELETE FROM meta WHERE key = 'generation'")
	s = open(t, path, Options{})
	gen, err := s.Generation(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, gen)
	require.NoError(t, s.Close())
	s = open(t, path, Options{})
	g2, err := s.Generation(ctx)
	require.NoError(t, err)
	assert.Equal(t, gen, g2)
}
