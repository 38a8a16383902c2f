package synctest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/synctest"
)

// inScope reports whether stream is under one of prefixes (nil: all).
func inScope(stream string, prefixes []string) bool {
	if prefixes == nil {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(stream, p) {
			return true
		}
	}
	return false
}

// tally counts violations of one property and reports the first few.
type tally struct {
	t    *testing.T
	what string
	n    int
}

// failf records one violation.
func (y *tally) failf(format string, args ...any) {
	y.t.Helper()
	if y.n++; y.n <= 3 {
		y.t.Errorf(format, args...)
	}
}

// done fails the test with the count when there were violations.
func (y *tally) done() {
	y.t.Helper()
	assert.Zero(y.t, y.n, y.what)
}

// check checks the end state of a chaos run whose hub ledger ends at head.
func (r *chaosRun) check(head int64) {
	t := r.t
	ctx := context.Background()

	// The hub: positions 1..head, each event once.
	hubEvents := ledger(t, r.hub)
	require.NoError(t, synctest.CheckLedger(hubEvents), "hub ledger: no gap, no duplicate")
	require.Len(t, hubEvents, int(head), "hub head")
	hubByID := make(map[string]eventstore.Event, len(hubEvents))
	for _, e := range hubEvents {
		hubByID[e.ID] = e
	}

	// Every append a client process reported committed reached the hub.
	reported := 0
	for _, c := range r.clients {
		c.mu.Lock()
		wrote := append([]string(nil), c.wrote...)
		c.mu.Unlock()
		reported += len(wrote)
		lost := &tally{t: t, what: c.name + ": events reported written, lost"}
		for _, id := range wrote {
			if _, ok := hubByID[id]; !ok {
				lost.failf("%s: event %s reported written, not on the hub", c.name, id)
			}
		}
		lost.done()
	}

	// Each replica, from its store file.
	own := map[string]string{} // event ID -> the device that holds it as its own
	for _, c := range r.clients {
		s, err := sqlite.Open(ctx, c.db, sqlite.Options{})
		require.NoError(t, err)
		local := ledger(t, s)
		require.NoError(t, synctest.CheckLedger(local), "%s: local ledger, each event once", c.name)
		var held, want eventstore.Digest
		var maxCreated eventstore.Timestamp
		inverted := &tally{t: t, what: c.name + ": own events stamped before events the store already held"}
		wrong := &tally{t: t, what: c.name + ": events not as on the hub"}
		localIDs := make(map[string]bool, len(local))
		for _, e := range local {
			localIDs[e.ID] = true
			hubCopy, onHub := hubByID[e.ID]
			if !e.Hydrated {
				if dev, dup := own[e.ID]; dup {
					t.Errorf("event %s is local to %s and %s", e.ID, dev, c.name)
				}
				own[e.ID] = c.name
				// HLC: an event written after the store held another sorts
				// after it.
				if e.Created <= maxCreated {
					inverted.failf("%s: own event %s (local position %d) created %s, not after %s held before it",
						c.name, e.ID, e.Position, stamp(e.Created), stamp(maxCreated))
				}
			}
			maxCreated = max(maxCreated, e.Created)
			switch {
			case !onHub:
				wrong.failf("%s: event %s (origin %s) is not on the hub", c.name, e.ID, e.Origin)
				continue
			case hubCopy.Position != e.HubPosition:
				wrong.failf("%s: event %s has hub position %d, the hub holds it at %d", c.name, e.ID, e.HubPosition, hubCopy.Position)
			case !eventstore.SameContent(hubCopy, e):
				wrong.failf("%s: event %s differs from the hub's copy", c.name, e.ID)
			}
			if inScope(e.Stream, c.scope) {
				held.Add(e, e.HubPosition)
			}
		}
		inverted.done()
		wrong.done()
		missing := 0
		for _, e := range hubEvents {
			if inScope(e.Stream, c.scope) {
				want.Add(e, e.Position)
				if !localIDs[e.ID] {
					missing++
				}
			}
		}
		assert.Zero(t, missing, "%s: hub events of its scope %v it lacks", c.name, c.scope)
		assert.Equal(t, want.String(), held.String(), "%s: digest of what it holds == the hub's for scope %v", c.name, c.scope)

		rep, err := client.New(s, client.Config{URL: "ws://127.0.0.1:1/sync", Streams: c.streams})
		require.NoError(t, err)
		st, err := rep.Status(ctx)
		require.NoError(t, err)
		assert.Equal(t, head, st.Cursor, "%s: cursor", c.name)
		assert.Zero(t, st.Pending, "%s: pending", c.name)
		assert.Zero(t, st.Rejected, "%s: rejected", c.name)
		assert.Equal(t, want.String(), st.Digest, "%s: kept digest == the hub's for scope %v", c.name, c.scope)
		assert.False(t, st.RepairDue, "%s: no repair due", c.name)
		assert.Nil(t, st.LastRepair, "%s: no divergence found while syncing", c.name)
		t.Logf("%s: %d events held (%d scoped), %d processes, %d killed, %d reported written",
			c.name, len(local), want.Count, c.starts, c.killCnt, len(c.wrote))
		require.NoError(t, s.Close())
	}

	// The hub holds exactly the devices' own events: none lost, none
	// invented.
	invented := &tally{t: t, what: "hub events no device holds as its own"}
	for _, e := range hubEvents {
		if dev, ok := own[e.ID]; !ok || dev != e.Origin {
			invented.failf("hub event %s (origin %s) is not its origin's own event (held as own by %q)", e.ID, e.Origin, dev)
		}
	}
	invented.done()
	assert.Len(t, own, len(hubEvents), "devices' own events == hub events")
	assert.Positive(t, reported, "the clients wrote")

	// The faults happened.
	for _, k := range faults {
		assert.Positive(t, r.done[k], "%s injected", k)
	}
	// A cut may find no connection open (clients between reconnects, more
	// so under the race detector): cuts are checked as injected above, and
	// the count of connections they reset is in the phase's log line.
	assert.Positive(t, r.dropped, "LISTEN connections terminated")
	for _, n := range r.nodes {
		assert.NotContains(t, n.syncd.Stderr(), "panic", "%s", n.app)
	}
}

// stamp formats a timestamp's physical part, with its logical counter.
func stamp(ts eventstore.Timestamp) string {
	return fmt.Sprintf("%s+%d", ts.Time().UTC().Format("15:04:05.000"), ts.Logical())
}
