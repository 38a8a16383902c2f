package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLists: add --list puts a task in a list (id NAME/ULID, stream
// task/NAME/ULID); its id resolves by either part; subscriptions are kept
// offline, a final slash implied.
func TestLists(t *testing.T) {
	d := newDevice(t, "laptop")
	milk := strings.TrimSpace(d.ok("add", "--list", "groceries", "buy milk"))
	require.Regexp(t, `^groceries/[0-9a-z]{26}$`, milk)
	plain := d.add("no list")
	assert.Contains(t, d.ok("list"), "[ ] "+milk+"  ")

	ulid := strings.TrimPrefix(milk, "groceries/")
	assert.Equal(t, "completed "+milk+"\n", d.ok("complete", ulid[:24]), "the id after NAME/ resolves")
	assert.Equal(t, "reopened "+milk+"\n", d.ok("reopen", "task/GROCERIES/"+ulid), "so does its stream, in any case")
	var shown struct{ History []historyEvent }
	require.NoError(t, json.Unmarshal([]byte(d.ok("show", milk, "--json")), &shown))
	require.Len(t, shown.History, 3)
	assert.Equal(t, "task/groceries/"+ulid, streamOf(milk))
	assert.Equal(t, "task/"+plain, streamOf(plain))

	code, _, errOut := d.run("add", "--list", "a b", "x")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, `--list "a b": want 1-64 letters`)
	assert.Len(t, d.list(), 2, "nothing written")

	assert.Equal(t, "none: this device pulls every stream its token allows\n", d.ok("subscriptions"))
	assert.Equal(t, "[]\n", d.ok("subscriptions", "--json"))
	assert.Equal(t, "task/groceries/\ntask/work/\n", d.ok("subscribe", "task/groceries", "task/work/"))
	assert.Equal(t, "task/groceries/\n", d.ok("unsubscribe", "task/work"))
	code, _, errOut = d.run("unsubscribe", "task/groceries")
	assert.Equal(t, exitUser, code)
	assert.Contains(t, errOut, "cannot remove every subscription")
	code, _, errOut = d.run("subscribe")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "subscribe needs PREFIX...")
}

// TestEndToEndSharedList: two devices share one list and not another. The
// laptop writes to lists groceries and work (and to no list); the phone
// subscribes to groceries before its first sync and pulls only those
// tasks, also later ones; when it subscribes to work, its next sync
// backfills work's history. The laptop, which pulls everything, cannot
// narrow what it pulls.
func TestEndToEndSharedList(t *testing.T) {
	hub := startHub(t)
	laptop, phone := newRealDevice(t, "laptop", hub), newRealDevice(t, "phone", hub)
	add := func(list, title string) string { return strings.TrimSpace(laptop.ok("add", "--list", list, title)) }
	milk, eggs := add("groceries", "buy milk"), add("groceries", "buy eggs")
	report := add("work", "write the report")
	plain := laptop.add("in no list")
	laptop.ok("sync")

	assert.Equal(t, "task/groceries/\n", phone.ok("subscribe", "task/groceries"))
	assert.Regexp(t, `^pushed 0, pulled 2 \(2 new\), cursor \d+\n$`, phone.ok("sync"))
	ids := func(d *realDevice) []string {
		var out []string
		for id := range d.rows() {
			out = append(out, id)
		}
		return out
	}
	assert.ElementsMatch(t, []string{milk, eggs}, ids(phone), "groceries only")

	// Later writes: groceries reaches the phone, work does not.
	bread, slides := add("groceries", "buy bread"), add("work", "make slides")
	laptop.ok("rename", report, "write the annual report")
	laptop.ok("sync")
	phone.ok("sync")
	assert.ElementsMatch(t, []string{milk, eggs, bread}, ids(phone))

	// Subscribing to work backfills its whole history at the next sync.
	assert.Equal(t, "task/groceries/\ntask/work/\n", phone.ok("subscribe", "task/work"))
	out := phone.ok("sync")
	assert.Regexp(t, `, backfilled 3, cursor \d+\n$`, out, "report created and renamed, slides created")
	assert.ElementsMatch(t, []string{milk, eggs, bread, report, slides}, ids(phone))
	assert.NotContains(t, ids(phone), plain)
	assert.Equal(t, "write the annual report", phone.rows()[report].Title)
	assert.Equal(t, laptop.rows()[report], phone.rows()[report], "the same row on both")
	var res map[string]int
	require.NoError(t, json.Unmarshal([]byte(phone.ok("sync", "--json")), &res))
	assert.Zero(t, res["backfilled"], "once")

	// The phone's edits in a shared list reach the laptop.
	phone.ok("complete", regexp.MustCompile(`[0-9a-z]{26}$`).FindString(bread))
	phone.ok("sync")
	laptop.ok("sync")
	assert.True(t, laptop.rows()[bread].Done)

	// The laptop has pulled every stream: subscribing is refused, with
	// what to do instead.
	code, _, errOut := laptop.run("subscribe", "task/groceries")
	assert.Equal(t, exitUser, code)
	assert.Contains(t, errOut, "pulls every list already")
	assert.Contains(t, errOut, "subscribe on a new --db before its first sync")
	assert.Equal(t, "none: this device pulls every stream its token allows\n", laptop.ok("subscriptions"))
}
