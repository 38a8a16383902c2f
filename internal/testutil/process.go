package testutil

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Binaries builds Go commands for the process tests of one test binary:
// once per run, into one temporary directory, which Remove deletes (call it
// from TestMain after m.Run).
type Binaries struct {
	// Packages are the import paths of the commands; each binary is named
	// after the last element of its path.
	Packages []string

	once sync.Once
	dir  string
	err  error
}

// Path builds the commands on first use and returns the path of the binary
// called name. It fails t when the build failed.
func (b *Binaries) Path(t testing.TB, name string) string {
	t.Helper()
	b.once.Do(b.build)
	require.NoError(t, b.err)
	return filepath.Join(b.dir, name)
}

func (b *Binaries) build() {
	if b.dir, b.err = os.MkdirTemp("", "ferry-test-bin-"); b.err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"build", "-o", b.dir + string(filepath.Separator)}, b.Packages...)
	if out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput(); err != nil {
		b.err = errors.New(string(out))
	}
}

// Remove deletes the built binaries, if any.
func (b *Binaries) Remove() {
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

// HTTPStatus GETs url and returns the response's status code, failing t
// when the request fails.
func HTTPStatus(t testing.TB, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}
