package synctest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/client"
)

// noteDevice is a bare device of the notes app: a SQLite store of one
// app version and its replicator.
type noteDevice struct {
	t     testing.TB
	name  string
	path  string
	store *sqlite.Store
	rep   *client.Replicator
}

// openNoteDevice opens (or reopens) the device's store with the registry
// of version and a replicator to url. wall, when set, is the device's wall
// clock; onAppend is the store's Config.OnAppend.
func openNoteDevice(t testing.TB, path, name string, version int, url string, wall func() time.Time,
	onAppend func(context.Context, eventstore.Tx, []eventstore.Event) error) *noteDevice {
	t.Helper()
	clock := eventstore.NewClock()
	if wall != nil {
		clock = eventstore.NewClock(eventstore.WithWallClock(wall))
	}
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{Config: eventstore.Config{
		Origin: name, Registry: notesRegistry(version), Clock: clock, OnAppend: onAppend}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	rep, err := client.New(s, client.Config{URL: url, Token: token(t, "acme", name), App: fmt.Sprintf("notes/%d", version), BatchSize: 3,
		Backoff: client.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}})
	require.NoError(t, err)
	return &noteDevice{t: t, name: name, path: path, store: s, rep: rep}
}

func newNoteDevice(t testing.TB, name string, version int, url string, wall func() time.Time) *noteDevice {
	return openNoteDevice(t, filepath.Join(t.TempDir(), name+".db"), name, version, url, wall, nil)
}

// write appends one event of typ to stream.
func (d *noteDevice) write(stream, typ string, data any) eventstore.Event {
	d.t.Helper()
	b, err := json.Marshal(data)
	require.NoError(d.t, err)
	evs, err := d.store.Append(context.Background(), eventstore.Write{Stream: stream, Events: []eventstore.Event{{Type: typ, Data: b}}})
	require.NoError(d.t, err, d.name)
	return evs[0]
}

// syncOnce runs SyncOnce and requires success.
func (d *noteDevice) syncOnce() client.Stats {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	st, err := d.rep.SyncOnce(ctx)
	require.NoError(d.t, err, d.name)
	return st
}

// pending returns the device's events the hub has not acknowledged.
func (d *noteDevice) pending() []eventstore.Event {
	d.t.Helper()
	return testutil.Collect(d.t, d.store.ReadPending(context.Background(), 0, 0))
}

// Failure 1 of issue 15: a device on the old app version pulls events of a
// type only the new version knows. It keeps them (flagged Unknown), applies
// the events around them, and its own push is acknowledged: nothing stays
// pending, and it is in step with the hub.
func TestOldVersionKeepsSyncing(t *testing.T) {
	for _, b := range syncdBackends() {
		t.Run(b.Name, func(t *testing.T) {
			hub := startSyncd(t, nil, b.Args(t)...)
			newer := newNoteDevice(t, "newer", 2, hub.URL(), nil)
			newer.write("n1", "note:added", map[string]string{"text": "a"})
			newer.write("n1", "note:tagged", map[string]string{"tag": "x"})
			newer.write("n2", "note:added", map[string]string{"text": "b"})
			newer.syncOnce()

			older := newNoteDevice(t, "older", 1, hub.URL(), nil)
			mine := older.write("n3", "note:added", map[string]string{"text": "c"})
			st := older.syncOnce()
			assert.Equal(t, 1, st.Pushed)
			assert.Zero(t, st.Rejected)
			assert.EqualValues(t, 4, st.Cursor)
			assert.Empty(t, older.pending(), "the hub stored the push: it is acknowledged")
			all := testutil.Collect(t, older.store.ReadAll(context.Background(), 0, 0))
			require.Len(t, all, 4)
			unknown := 0
			for _, e := range all {
				if e.Unknown {
					unknown++
					assert.Equal(t, "note:tagged", e.Type)
				}
			}
			assert.Equal(t, 1, unknown)

			// It keeps syncing: more of both come and go.
			newer.write("n1", "note:tagged", map[string]string{"tag": "y"})
			newer.syncOnce()
			older.write("n3", "note:added", map[string]string{"text": "d"})
			st = older.syncOnce()
			assert.EqualValues(t, 6, st.Cursor)
			assert.Empty(t, older.pending())
			st = newer.syncOnce()
			assert.EqualValues(t, 6, st.Cursor)
			_ = mine
		})
	}
}

// skewed returns a wall clock off by d.
func skewed(d time.Duration) func() time.Time {
	return func() time.Time { return time.Now().Add(d) }
}

// Failure 2 of issue 15, and the clock tests: devices whose wall clocks run
// 15 minutes and 2 hours ahead, and 2 hours behind, write offline and
// sync. Nothing is rejected: events stamped too far ahead are deferred and
// stay pending while everything else flows (the devices correct their
// clocks from the hub's time, so the one behind pulls the others' events);
// once the hub's time reaches them (syncd restarted with --clock-offset,
// standing in for the hours passing) they are pushed again and taken.
// Every event reaches the hub and every device, and the devices converge.
func TestClockSkewCostsNoData(t *testing.T) {
	for _, b := range syncdBackends() {
		t.Run(b.Name, func(t *testing.T) {
			hub := startSyncd(t, nil, b.Args(t)...)
			skews := map[string]time.Duration{"fast15m": 15 * time.Minute, "fast2h": 2 * time.Hour, "slow2h": -2 * time.Hour, "right": 0}
			names := []string{"fast15m", "fast2h", "slow2h", "right"}
			devs := map[string]*noteDevice{}
			var written []eventstore.Event
			for _, n := range names {
				devs[n] = newNoteDevice(t, n, 2, hub.URL(), skewed(skews[n]))
				for i := range 5 {
					written = append(written, devs[n].write("note/"+n, "note:added", map[string]any{"text": n, "i": i}))
				}
				written = append(written, devs[n].write("note/shared", "note:tagged", map[string]any{"tag": n}))
			}

			sync := func(round string) map[string]client.Stats {
				out := map[string]client.Stats{}
				for _, n := range names {
					st := devs[n].syncOnce()
					assert.Zero(t, st.Rejected, "%s %s: nothing rejected", round, n)
					out[n] = st
				}
				return out
			}
			first := sync("first")
			assert.Equal(t, 6, first["fast15m"].Deferred, "stamped 15 minutes ahead: deferred")
			assert.Equal(t, 6, first["fast2h"].Deferred)
			assert.Greater(t, first["fast2h"].RetryAfter, time.Hour)
			assert.Zero(t, first["slow2h"].Deferred, "a clock behind works as before")
			assert.Zero(t, first["right"].Deferred)
			assert.Len(t, devs["fast2h"].pending(), 6, "deferred events stay pending")

			// Meanwhile the others' events flow: written after the
			// correction, the slow device's are stamped right.
			more := devs["slow2h"].write("note/slow2h", "note:added", map[string]any{"text": "later"})
			written = append(written, more)
			assert.InDelta(t, time.Now().UnixMilli(), more.Created.Millis(), float64(time.Minute.Milliseconds()),
				"the slow device stamps new events with the corrected time")
			written = append(written, devs["right"].write("note/right", "note:added", map[string]any{"text": "later"}))
			second := sync("second")
			assert.Empty(t, devs["slow2h"].pending())
			assert.Empty(t, devs["right"].pending())
			assert.Equal(t, 6, second["fast2h"].Deferred)

			// Hours pass: the hub's time reaches the fast devices' stamps.
			require.NoError(t, hub.Kill())
			hub.Args = append(hub.Args, "--clock-offset", "2h5m")
			restart(t, hub)
			sync("after")
			final := sync("final")
			want := sortedIDs(written)
			for _, n := range names {
				assert.Empty(t, devs[n].pending(), n)
				assert.Zero(t, final[n].Deferred, n)
				assert.Equal(t, want, sortedIDs(ledger(t, devs[n].store)), "%s holds every event", n)
			}
			for _, stream := range []string{"note/shared", "note/fast2h", "note/slow2h"} {
				var order []string
				for i, n := range names {
					ids := sortedIDs(nil)
					for e, err := range devs[n].store.ReadStream(context.Background(), stream, eventstore.ReadOptions{}) {
						require.NoError(t, err)
						ids = append(ids, e.ID)
					}
					if i == 0 {
						order = ids
						continue
					}
					assert.Equal(t, order, ids, "%s folds %s like the others", n, stream)
				}
			}
		})
	}
}
