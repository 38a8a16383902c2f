package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Environment variables that give the global flags their defaults (see
// globals.register).
const (
	envDB      = "FERRY_DB"
	envServer  = "FERRY_SERVER"
	envToken   = "FERRY_TOKEN"
	envDevice  = "FERRY_DEVICE"
	envEffects = "FERRY_EFFECTS"
	envJSON    = "FERRY_JSON"
)

// device is one in-process device: a database and the environment its
// commands run with.
type device struct {
	t   *testing.T
	env map[string]string
}

func newDevice(t *testing.T, name string) *device {
	dir := t.TempDir()
	return &device{t: t, env: map[string]string{
		envDB:      filepath.Join(dir, name+".db"),
		envDevice:  name,
		envEffects: filepath.Join(dir, name+".effects.log"),
		envServer:  "ws://127.0.0.1:1/sync", // nothing listens there
	}}
}

// run runs a command in-process and returns its exit code, stdout and
// stderr.
func (d *device) run(args ...string) (int, string, string) {
	d.t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return d.env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

// ok runs a command that must succeed and returns its stdout.
func (d *device) ok(args ...string) string {
	d.t.Helper()
	code, out, errOut := d.run(args...)
	require.Equal(d.t, 0, code, "%v: stderr: %s", args, errOut)
	return out
}

// add adds a task and returns its id.
func (d *device) add(title string) string {
	d.t.Helper()
	return strings.TrimSpace(d.ok("add", title))
}

// list returns `list --all --json`, decoded.
func (d *device) list() []taskRow {
	d.t.Helper()
	var rows []taskRow
	require.NoError(d.t, json.Unmarshal([]byte(d.ok("list", "--all", "--json")), &rows))
	return rows
}

// status returns `status --json`, decoded.
func (d *device) status() statusJSON {
	d.t.Helper()
	var s statusJSON
	require.NoError(d.t, json.Unmarshal([]byte(d.ok("status", "--json")), &s))
	return s
}
