package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTaskLifecycle(t *testing.T) {
	d := newDevice(t, "laptop")
	id := d.add("buy milk")
	require.Len(t, id, 26)
	other := d.add("  write docs  ")

	rows := d.list()
	require.Len(t, rows, 2)
	assert.Equal(t, id, rows[0].ID)
	assert.Equal(t, "buy milk", rows[0].Title)
	assert.Equal(t, "write docs", rows[1].Title, "titles are trimmed")
	assert.False(t, rows[0].Done)
	assert.False(t, rows[0].Changed.IsZero())

	// Ids may be shortened to a unique prefix, in any case.
	assert.Equal(t, "renamed "+id+"\n", d.ok("rename", strings.ToUpper(id[:20]), "buy", "oat", "milk"))
	d.ok("complete", id)
	d.ok("delete", other)

	rows = d.list()
	require.Len(t, rows, 2)
	assert.Equal(t, "buy oat milk", rows[0].Title)
	assert.True(t, rows[0].Done)
	assert.True(t, rows[1].Deleted)
	assert.NotContains(t, d.ok("list"), other, "list hides deleted tasks without --all")
	assert.Contains(t, d.ok("list"), "[x] "+id)

	var shown struct {
		Title   string
		Done    bool
		Version int
		History []historyEvent
	}
	require.NoError(t, json.Unmarshal([]byte(d.ok("show", id, "--json")), &shown))
	assert.Equal(t, "buy oat milk", shown.Title)
	assert.True(t, shown.Done)
	require.Len(t, shown.History, 3)
	for i, typ := range []string{taskCreated.Name(), taskRenamed.Name(), taskCompleted.Name()} {
		assert.Equal(t, typ, shown.History[i].Type)
		assert.Equal(t, "laptop", shown.History[i].Origin)
		assert.False(t, shown.History[i].Hydrated)
		assert.False(t, shown.History[i].Outdated)
	}
	text := d.ok("show", id)
	assert.Contains(t, text, "title    buy oat milk")
	assert.Contains(t, text, "task:renamed")

	// The completion was logged once, by the command that made it.
	log, err := os.ReadFile(d.env[envEffects])
	require.NoError(t, err)
	assert.Equal(t, shown.History[2].ID+" completed "+id+" buy oat milk\n", string(log))
	assert.Equal(t, "no pending or failed side effects\n", d.ok("effects"))

	// Reopen and complete again: a second line, for the second event.
	d.ok("reopen", id)
	d.ok("complete", id)
	log2, err := os.ReadFile(d.env[envEffects])
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(log2)), "\n")
	require.Len(t, lines, 2)

	// Rebuild replays everything: same read model, effects log untouched.
	before := d.list()
	st := d.status()
	assert.Equal(t, int64(7), st.EventsSeen)
	assert.Contains(t, d.ok("rebuild"), "from 7 events")
	assert.Equal(t, before, d.list())
	assert.Equal(t, int64(7), d.status().EventsSeen)
	log3, err := os.ReadFile(d.env[envEffects])
	require.NoError(t, err)
	assert.Equal(t, string(log2), string(log3))
}

func TestStatusOffline(t *testing.T) {
	d := newDevice(t, "laptop")
	d.add("one")
	d.add("two")
	st := d.status()
	assert.Equal(t, "laptop", st.Device)
	assert.Equal(t, "ws://127.0.0.1:1/sync", st.Server)
	assert.False(t, st.Online)
	assert.Equal(t, 2, st.Pending)
	assert.Equal(t, int64(0), st.Cursor)
	assert.Equal(t, int64(2), st.EventsSeen)
	assert.True(t, st.LastSync.IsZero())
	text := d.ok("status")
	assert.Contains(t, text, "device        laptop")
	assert.Contains(t, text, "online        never tried")
	assert.Contains(t, text, "pending       2 events not yet pushed")
}

func TestDeviceNameIsRemembered(t *testing.T) {
	d := newDevice(t, "laptop")
	d.add("one")
	delete(d.env, envDevice)
	assert.Equal(t, "laptop", d.status().Device, "the name of the first use sticks")

	code, _, errOut := d.run("--device", "phone", "list")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, `belongs to device "laptop", not "phone"`)

	// Without --device on first use, a generated id is kept.
	g := newDevice(t, "x")
	delete(g.env, envDevice)
	first := g.status().Device
	assert.Len(t, first, 26)
	assert.Equal(t, first, g.status().Device)
}

func TestFlagsAnywhere(t *testing.T) {
	d := newDevice(t, "laptop")
	var added map[string]string
	require.NoError(t, json.Unmarshal([]byte(d.ok("add", "milk", "--json")), &added))
	assert.Equal(t, "milk", added["title"])
	require.NoError(t, json.Unmarshal([]byte(d.ok("--json", "add", "eggs")), &added))
	assert.Equal(t, "eggs", added["title"])
	id := strings.TrimSpace(d.ok("add", "--", "--json is a title"))
	assert.Equal(t, "--json is a title", d.list()[2].Title)

	// Global flags override the environment.
	other := t.TempDir() + "/other.db"
	d.ok("--db", other, "add", "elsewhere")
	assert.Len(t, d.list(), 3)
	assert.NotContains(t, d.ok("list", "--db", other), id)
}

func TestEnvJSON(t *testing.T) {
	d := newDevice(t, "laptop")
	d.add("one")
	d.env[envJSON] = "true"
	assert.True(t, strings.HasPrefix(d.ok("list"), "["))
	d.env[envJSON] = "maybe"
	code, _, errOut := d.run("list")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "FERRY_JSON")
}

func TestHelp(t *testing.T) {
	d := newDevice(t, "laptop")
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"help", "sync"}, {"sync", "--help"}} {
		code, out, errOut := d.run(args...)
		assert.Equal(t, 0, code, "%v", args)
		assert.Contains(t, out, "Usage: client-demo", "%v", args)
		assert.Empty(t, errOut)
	}
	assert.Contains(t, d.ok("help"), "FERRY_TOKEN")
	assert.Contains(t, d.ok("help", "sync"), "-watch")
}

// TestBadInput checks that each kind of bad input exits with its documented
// code and a one-line message, and writes nothing.
func TestBadInput(t *testing.T) {
	d := newDevice(t, "laptop")
	id := d.add("buy milk")
	done := d.add("done already")
	d.ok("complete", done)
	gone := d.add("gone")
	d.ok("delete", gone)
	d.add("same prefix 1")

	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"empty title", []string{"add", ""}, exitUser, "invalid title: must not be empty"},
		{"blank title", []string{"add", "   "}, exitUser, "invalid title: must not be empty"},
		{"long title", []string{"add", strings.Repeat("x", maxTitle+1)}, exitUser, "invalid title: longer than 200 characters"},
		{"newline in title", []string{"add", "a\nb"}, exitUser, "invalid title: must be one line"},
		{"rename empty", []string{"rename", id, ""}, exitUser, "invalid title: must not be empty"},
		{"rename same", []string{"rename", id, "buy milk"}, exitUser, "already called"},
		{"unknown id", []string{"complete", "01zzzzzzzzzzzzzzzzzzzzzzzz"}, exitUser, "unknown task"},
		{"bad id", []string{"show", "no such; id"}, exitUser, "unknown task"},
		{"ambiguous id", []string{"complete", id[:1]}, exitUser, "ambiguous task id"},
		{"complete twice", []string{"complete", done}, exitUser, "already completed"},
		{"reopen open", []string{"reopen", id}, exitUser, "is not completed"},
		{"complete deleted", []string{"complete", gone}, exitUser, "is deleted"},
		{"rename deleted", []string{"rename", gone, "x"}, exitUser, "is deleted"},
		{"delete deleted", []string{"delete", gone}, exitUser, "is deleted"},
		{"no command", nil, exitUsage, "no command given"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"unknown flag", []string{"list", "--frob"}, exitUsage, "flag provided but not defined: -frob"},
		{"flag of another command", []string{"add", "x", "--watch"}, exitUsage, "-watch"},
		{"missing argument", []string{"rename", id}, exitUsage, "rename needs ID TITLE"},
		{"extra argument", []string{"complete", id, "again"}, exitUsage, `unexpected argument "again"`},
		{"bad server", []string{"--server", "ftp://x", "status"}, exitUsage, "--server"},
		{"bad device", []string{"--device", "a b", "list"}, exitUsage, "--device"},
		{"no token", []string{"sync"}, exitUsage, "sync needs a token"},
		{"unreachable", []string{"--token", "t", "sync"}, exitSync, "sync failed: hub unreachable at ws://127.0.0.1:1/sync"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, st := d.list(), d.status()
			code, out, errOut := d.run(tt.args...)
			assert.Equal(t, tt.code, code)
			assert.Empty(t, out)
			assert.Contains(t, errOut, tt.msg)
			assert.True(t, strings.HasPrefix(errOut, "client-demo: "), errOut)
			assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
			assert.Equal(t, before, d.list(), "read model unchanged")
			after := d.status()
			assert.Equal(t, st.EventsSeen, after.EventsSeen, "no event written")
			assert.Equal(t, st.Pending, after.Pending)
		})
	}
}

func TestEffectsNotFromOthers(t *testing.T) {
	// A completion that arrives from another device (Insert, hydrated)
	// updates the read model but never writes the effects log. The end to
	// end tests check the same through a real hub.
	d := newDevice(t, "laptop")
	id := d.add("buy milk")
	_, err := os.Stat(d.env[envEffects])
	require.ErrorIs(t, err, os.ErrNotExist)
	insertRemote(t, d, remoteEvent(id, taskCompleted.Name(), "phone", `{"title":"buy milk"}`))
	rows := d.list()
	require.Len(t, rows, 1)
	assert.True(t, rows[0].Done)
	d.ok("rebuild")
	d.ok("rename", id, "x") // a write command runs due effects: none
	_, err = os.Stat(d.env[envEffects])
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestEffectFailureIsReported(t *testing.T) {
	d := newDevice(t, "laptop")
	id := d.add("buy milk")
	d.env[envEffects] = t.TempDir() + "/no/such/dir/log"
	code, _, errOut := d.run("complete", id)
	assert.Equal(t, 0, code, "the completion is saved; its effect is retried later")
	assert.Contains(t, errOut, "warning: side effect effects-log")
	out := d.ok("effects")
	assert.Contains(t, out, "pending")
	assert.Contains(t, out, "no such file or directory")
	assert.Equal(t, 1, d.status().EffectsPending)
}

func TestEffectRecovers(t *testing.T) {
	d := newDevice(t, "laptop")
	id := d.add("buy milk")
	good := d.env[envEffects]
	d.env[envEffects] = t.TempDir() + "/no/such/dir/log"
	code, _, _ := d.run("complete", id)
	require.Equal(t, 0, code)
	var effects []effectJSON
	require.NoError(t, json.Unmarshal([]byte(d.ok("effects", "--json")), &effects))
	require.Len(t, effects, 1)
	assert.Equal(t, "pending", effects[0].Status)
	assert.Equal(t, 1, effects[0].Attempts)

	code, _, errOut := d.run("effects", "retry", effects[0].EventID)
	assert.Equal(t, exitUser, code, "only failed effects are retried by hand")
	assert.Contains(t, errOut, "no failed side effect")

	// Once the log is writable, a later command runs the effect when its
	// backoff is over.
	d.env[envEffects] = good
	require.Eventually(t, func() bool {
		d.add("another")
		return d.status().EffectsPending == 0
	}, 10*time.Second, 50*time.Millisecond)
	log, err := os.ReadFile(good)
	require.NoError(t, err)
	assert.Equal(t, effects[0].EventID+" completed "+id+" buy milk\n", string(log))
}
