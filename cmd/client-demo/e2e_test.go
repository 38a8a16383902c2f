package main

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEndToEndOfflineConflicts: two devices edit offline, rename the same
// task differently and complete different tasks, then sync in either order.
// Both end with identical lists, the later rename wins, and each effects log
// holds exactly the completions made on its device, once, whatever
// rebuilds and re-syncs follow.
func TestEndToEndOfflineConflicts(t *testing.T) {
	for _, first := range []string{"laptop", "phone"} {
		t.Run(first+" syncs first", func(t *testing.T) { offlineConflicts(t, first) })
	}
}

func offlineConflicts(t *testing.T, first string) {
	hub := startHub(t)
	laptop, phone := newRealDevice(t, "laptop", hub), newRealDevice(t, "phone", hub)

	// Online: the laptop creates tasks; the phone gets them.
	milk, docs, call := laptop.add("buy milk"), laptop.add("write docs"), laptop.add("call mum")
	assert.Regexp(t, `^pushed 3, pulled 3 \(0 new\), cursor 3\n$`, laptop.ok("sync"), "its own events come back")
	assert.Regexp(t, `^pushed 0, pulled 3 \(3 new\), cursor 3\n$`, phone.ok("sync"))
	require.Equal(t, laptop.list(), phone.list())

	// Offline: conflicting renames, and a completion on each device.
	hub.stop()
	laptop.ok("rename", milk, "buy oat milk")
	phone.ok("rename", milk, "buy soy milk") // later: it wins everywhere
	phone.ok("complete", docs)
	laptop.ok("complete", call)
	code, out, errOut := laptop.run("sync")
	assert.Equal(t, exitSync, code)
	assert.Empty(t, out)
	assert.Regexp(t, `^client-demo: sync failed: hub unreachable at ws://\S+: .*refused\n$`, errOut)
	st := laptop.status()
	assert.False(t, st.Online)
	assert.Equal(t, 2, st.Pending)
	assert.Equal(t, "buy oat milk", laptop.rows()[milk].Title, "each device sees its own edits offline")
	assert.Equal(t, "buy soy milk", phone.rows()[milk].Title)

	// Back online, sync in the given order; the first syncs again to get
	// the second's edits.
	hub.start()
	devs := map[string]*realDevice{"laptop": laptop, "phone": phone}
	a, b := devs[first], devs[map[string]string{"laptop": "phone", "phone": "laptop"}[first]]
	a.ok("sync")
	b.ok("sync")
	a.ok("sync")

	require.Equal(t, laptop.list(), phone.list(), "identical lists")
	rows := laptop.rows()
	assert.Equal(t, "buy soy milk", rows[milk].Title, "the later rename wins")
	assert.False(t, rows[milk].Done)
	assert.True(t, rows[docs].Done)
	assert.True(t, rows[call].Done)
	for _, d := range []*realDevice{laptop, phone} {
		st := d.status()
		assert.True(t, st.Online)
		assert.Zero(t, st.Pending)
		assert.Equal(t, int64(7), st.Cursor)
		assert.Equal(t, int64(7), st.EventsSeen)
	}

	// The phone took the laptop's older rename in after its own: outdated,
	// so it did not clobber the read model. The laptop took the phone's
	// newer rename in after its own: not outdated.
	renames := func(d *realDevice) map[string]historyEvent {
		m := map[string]historyEvent{}
		for _, e := range d.history(milk) {
			if e.Type == taskRenamed.Name() {
				m[e.Origin] = e
			}
		}
		return m
	}
	onPhone, onLaptop := renames(phone), renames(laptop)
	assert.True(t, onPhone["laptop"].Hydrated)
	assert.True(t, onPhone["laptop"].Outdated)
	assert.False(t, onPhone["phone"].Hydrated)
	assert.True(t, onLaptop["phone"].Hydrated)
	assert.False(t, onLaptop["phone"].Outdated)
	assert.Less(t, onLaptop["laptop"].CreatedHLC, onLaptop["phone"].CreatedHLC)

	// Each effects log: exactly the completions made on that device.
	checkLog := func(d *realDevice, task, title string) {
		t.Helper()
		lines := d.effectsLog()
		require.Len(t, lines, 1, "%v", lines)
		assert.Regexp(t, `^[0-9A-Z]{26} completed `+task+` `+title+`$`, lines[0])
	}
	checkLog(laptop, call, "call mum")
	checkLog(phone, docs, "write docs")

	// Rebuilds and re-syncs change nothing.
	before := laptop.list()
	for _, d := range []*realDevice{laptop, phone} {
		assert.Equal(t, "rebuilt the tasks read model from 7 events\n", d.ok("rebuild"))
		assert.Regexp(t, `^pushed 0, pulled 0 \(0 new\), cursor 7\n$`, d.ok("sync"))
		assert.Equal(t, "no pending or failed side effects\n", d.ok("effects"))
	}
	assert.Equal(t, before, laptop.list())
	assert.Equal(t, before, phone.list())
	checkLog(laptop, call, "call mum")
	checkLog(phone, docs, "write docs")
}

// TestEndToEndBadInput: each failure exits with its documented code and a
// one-line message, and leaves the database as it was.
func TestEndToEndBadInput(t *testing.T) {
	hub := startHub(t)
	d := newRealDevice(t, "laptop", hub)
	id := d.add("buy milk")
	d.ok("sync")

	// A token signed with another secret, and an address nobody listens on
	// (the hub's own, once it is stopped).
	other := *hub
	other.env = append(os.Environ(), "FERRY_SECRET=another secret that is 32+ bytes long!")
	forged := other.token("laptop")

	type check struct {
		name string
		args []string
		code int
		msg  string
	}
	tests := []check{
		{"unknown id", []string{"complete", "01hzzzzzzzzzzzzzzzzzzzzzzz"}, exitUser, `client-demo: unknown task "01hzzzzzzzzzzzzzzzzzzzzzzz"`},
		{"empty title", []string{"rename", id, ""}, exitUser, "client-demo: invalid title: must not be empty"},
		{"bad flag", []string{"list", "--colour"}, exitUsage, "client-demo: flag provided but not defined: -colour (see client-demo help)"},
		{"wrong token", []string{"--token", forged, "sync"}, exitSync, "client-demo: sync failed: the hub at " + hub.url() + " refused the token"},
		{"garbage token", []string{"--token", "nope", "sync"}, exitSync, "refused the token"},
		{"wrong token, watching", []string{"--token", forged, "sync", "--watch"}, exitSync, "refused the token"},
	}
	runChecks := func(tests []check) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				list, st := d.list(), d.status()
				code, out, errOut := d.run(tt.args...)
				assert.Equal(t, tt.code, code)
				assert.Contains(t, errOut, tt.msg)
				assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
				if !slicesContain(tt.args, "--watch") {
					assert.Empty(t, out)
				}
				assert.Equal(t, list, d.list(), "database unchanged")
				after := d.status()
				assert.Equal(t, st.EventsSeen, after.EventsSeen)
				assert.Equal(t, st.Pending, after.Pending)
				assert.Equal(t, st.Cursor, after.Cursor)
			})
		}
	}
	runChecks(tests)
	hub.stop()
	runChecks([]check{{"unreachable", []string{"sync"}, exitSync, "client-demo: sync failed: hub unreachable at " + hub.url()}})
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestEndToEndWatch: sync --watch prints events from other devices as they
// arrive, pushes local ones as they are written, and exits 0 on SIGINT.
func TestEndToEndWatch(t *testing.T) {
	hub := startHub(t)
	laptop, phone := newRealDevice(t, "laptop", hub), newRealDevice(t, "phone", hub)
	phone.ok("status") // names the database "phone" before two processes share it

	watch := phone.command("sync", "--watch")
	stdout, err := watch.StdoutPipe()
	require.NoError(t, err)
	errOut := &lockedBuffer{}
	watch.Stderr = errOut
	require.NoError(t, watch.Start())
	t.Cleanup(func() { _ = watch.Process.Kill() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(re string) {
		t.Helper()
		deadline := time.After(procTimeout)
		for {
			select {
			case line, ok := <-lines:
				require.True(t, ok, "watch ended; stderr: %s", errOut)
				if regexp.MustCompile(re).MatchString(line) {
					return
				}
			case <-deadline:
				t.Fatalf("no line matching %s; stderr: %s", re, errOut)
			}
		}
	}

	id := laptop.add("from the laptop")
	laptop.ok("sync")
	expect(`^from laptop: added ` + id + ` "from the laptop"$`)

	// A write on the phone while it watches: printed, and pushed by the
	// watching process.
	mine := phone.add("from the phone")
	expect(`^local: added ` + mine + ` "from the phone"$`)
	require.Eventually(t, func() bool {
		laptop.ok("sync")
		_, ok := laptop.rows()[mine]
		return ok
	}, procTimeout, 200*time.Millisecond)

	require.NoError(t, watch.Process.Signal(syscall.SIGINT))
	done := make(chan error, 1)
	go func() { done <- watch.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "stderr: %s", errOut)
	case <-time.After(procTimeout):
		t.Fatal("watch did not stop")
	}
	assert.Contains(t, errOut.String(), "online, caught up")
	assert.NotContains(t, errOut.String(), "offline", "Ctrl-C ends the watch quietly")
	assert.Equal(t, laptop.list(), phone.list())
}

// TestEndToEndRejected: a token scoped to other streams makes the hub
// reject the device's events; sync warns, exits 0, and the read model
// follows the fold, which leaves rejected events out.
func TestEndToEndRejected(t *testing.T) {
	hub := startHub(t)
	d := newRealDevice(t, "laptop", hub)
	cmd := exec.Command(hub.bin, "token", "--tenant", "demo", "--subject", "laptop", "--streams", "notes/", "--data-dir", hub.dataDir)
	cmd.Env = hub.env
	scoped, err := cmd.Output()
	require.NoError(t, err)

	id := d.add("out of scope")
	code, out, errOut := d.run("--token", strings.TrimSpace(string(scoped)), "sync")
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "pushed 0")
	assert.Regexp(t, `^client-demo: warning: the hub rejected event [0-9A-Z]{26} \(\S+\): .+\n$`, errOut)
	st := d.status()
	assert.Equal(t, 1, st.Rejected)
	assert.Zero(t, st.Pending)
	assert.Equal(t, "[]\n", d.list(), "the rejected task is gone from the list, as from the fold")
	code, _, errOut = d.run("show", id)
	assert.Equal(t, exitUser, code)
	assert.Contains(t, errOut, "unknown task")
}
