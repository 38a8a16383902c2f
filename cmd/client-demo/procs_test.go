package main

// Process helpers of the end-to-end tests.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/synctest"
)

// The end-to-end tests build the real syncd and client-demo binaries and
// run them as processes on loopback.

const procTimeout = 30 * time.Second

// bins builds syncd and client-demo once per test run.
var bins = testutil.Binaries{Packages: []string{synctest.SyncdPackage, "github.com/ferrysync/ferry/cmd/client-demo"}}

func TestMain(m *testing.M) {
	code := m.Run()
	bins.Remove()
	os.Exit(code)
}

// binaries builds syncd and client-demo once per test run and returns
// their paths.
func binaries(t *testing.T) (syncd, clientDemo string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	return bins.Path(t, "syncd"), bins.Path(t, "client-demo")
}

// hubProc is a syncd process on the embedded SQLite backend, run by the
// shared sync/synctest process handle.
type hubProc struct {
	t       *testing.T
	bin     string
	env     []string // the environment "syncd token" runs with
	dataDir string
	proc    *synctest.Syncd
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startHub starts syncd on a free loopback port.
func startHub(t *testing.T) *hubProc {
	t.Helper()
	bin, _ := binaries(t)
	extra := []string{"FERRY_SECRET=an end-to-end test secret, 32+ bytes long", "FERRY_LOG_LEVEL=warn"}
	dataDir := t.TempDir()
	h := &hubProc{t: t, bin: bin, env: append(os.Environ(), extra...), dataDir: dataDir,
		proc: &synctest.Syncd{Bin: bin, Args: []string{"--data-dir", dataDir}, Env: extra}}
	t.Cleanup(func() { _ = h.proc.Kill() })
	h.start()
	return h
}

// start starts syncd, on the same address as before after a stop.
func (h *hubProc) start() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	require.NoError(h.t, h.proc.Start(ctx), "syncd\n%s", h.proc.Stderr())
}

// stop stops syncd gracefully.
func (h *hubProc) stop() {
	h.t.Helper()
	require.NoError(h.t, h.proc.Stop(), "syncd exit\n%s", h.proc.Stderr())
}

func (h *hubProc) url() string { return h.proc.URL() }

// token returns a token for subject, signed with the hub's secret.
func (h *hubProc) token(subject string) string {
	h.t.Helper()
	cmd := exec.Command(h.bin, "token", "--tenant", "demo", "--subject", subject, "--data-dir", h.dataDir)
	cmd.Env = h.env
	out, err := cmd.Output()
	require.NoError(h.t, err)
	return strings.TrimSpace(string(out))
}

// realDevice runs the client-demo binary on one database.
type realDevice struct {
	t   *testing.T
	bin string
	env []string
	log string
}

func newRealDevice(t *testing.T, name string, h *hubProc) *realDevice {
	t.Helper()
	_, bin := binaries(t)
	dir := t.TempDir()
	return &realDevice{t: t, bin: bin, log: filepath.Join(dir, name+".effects.log"), env: append(os.Environ(),
		envDB+"="+filepath.Join(dir, name+".db"),
		envDevice+"="+name,
		envServer+"="+h.url(),
		envToken+"="+h.token(name),
	)}
}

func (d *realDevice) command(args ...string) *exec.Cmd {
	cmd := exec.Command(d.bin, args...)
	cmd.Env = d.env
	return cmd
}

// run runs client-demo and returns its exit code, stdout and stderr.
func (d *realDevice) run(args ...string) (int, string, string) {
	d.t.Helper()
	var out, errOut bytes.Buffer
	cmd := d.command(args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out.String(), errOut.String()
	}
	require.NoError(d.t, err)
	return 0, out.String(), errOut.String()
}

func (d *realDevice) ok(args ...string) string {
	d.t.Helper()
	code, out, errOut := d.run(args...)
	require.Equal(d.t, 0, code, "client-demo %v: %s", args, errOut)
	return out
}

func (d *realDevice) add(title string) string {
	d.t.Helper()
	return strings.TrimSpace(d.ok("add", title))
}

// list returns the raw `list --all --json` output.
func (d *realDevice) list() string {
	d.t.Helper()
	return d.ok("list", "--all", "--json")
}

func (d *realDevice) rows() map[string]taskRow {
	d.t.Helper()
	var rows []taskRow
	require.NoError(d.t, json.Unmarshal([]byte(d.list()), &rows))
	m := map[string]taskRow{}
	for _, r := range rows {
		m[r.ID] = r
	}
	return m
}

func (d *realDevice) status() statusJSON {
	d.t.Helper()
	var s statusJSON
	require.NoError(d.t, json.Unmarshal([]byte(d.ok("status", "--json")), &s))
	return s
}

func (d *realDevice) history(id string) []historyEvent {
	d.t.Helper()
	var shown struct{ History []historyEvent }
	require.NoError(d.t, json.Unmarshal([]byte(d.ok("show", id, "--json")), &shown))
	return shown.History
}

// effectsLog returns the lines of the device's effects log.
func (d *realDevice) effectsLog() []string {
	d.t.Helper()
	b, err := os.ReadFile(d.log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(d.t, err)
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
