package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/eventstore"
)

// openTestApp opens an app on a new database in-process.
func openTestApp(t *testing.T, name string) *app {
	t.Helper()
	dir := t.TempDir()
	g := globals{db: filepath.Join(dir, name+".db"), device: name, server: defaultServer}
	require.NoError(t, g.check())
	a, err := openApp(context.Background(), g, io.Discard, io.Discard)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// remoteEvent returns an event of task id as another device wrote it.
func remoteEvent(id, typ, origin, data string) eventstore.Event {
	return eventstore.Event{ID: eventstore.NewID(), Stream: streamOf(id), Type: typ, Data: []byte(data),
		Created: eventstore.TimestampOf(time.Now()), Origin: origin}
}

// insertRemote stores events as if they had been pulled from the hub.
func insertRemote(t *testing.T, d *device, events ...eventstore.Event) {
	t.Helper()
	g := globals{db: d.env[envDB], device: d.env[envDevice], effects: d.env[envEffects], server: defaultServer}
	require.NoError(t, g.check())
	a, err := openApp(context.Background(), g, io.Discard, io.Discard)
	require.NoError(t, err)
	defer a.Close()
	_, err = a.Store().Insert(context.Background(), events...)
	require.NoError(t, err)
}

// randomHistory returns the events of a few tasks written concurrently by
// three devices: every task starts with task:created, then random edits
// with random HLC timestamps.
func randomHistory(rng *rand.Rand) []eventstore.Event {
	base := time.Now().Add(-time.Hour).UnixMilli()
	devices := []string{"d1", "d2", "d3"}
	var events []eventstore.Event
	for task := range 3 {
		id := newTaskID()
		at := base + int64(task)
		events = append(events, eventstore.Event{ID: eventstore.NewID(), Stream: streamOf(id), Type: taskCreated.Name(),
			Data: fmt.Appendf(nil, `{"title":"task %d"}`, task), Created: eventstore.MakeTimestamp(at, 0), Origin: devices[0]})
		for i := range 4 + rng.IntN(10) {
			typ := []string{taskRenamed.Name(), taskRenamed.Name(), taskCompleted.Name(), taskReopened.Name(), taskDeleted.Name()}[rng.IntN(5)]
			data := "{}"
			if typ == taskRenamed.Name() || typ == taskCompleted.Name() {
				data = fmt.Sprintf(`{"title":"title %d.%d"}`, task, i)
			}
			events = append(events, eventstore.Event{ID: eventstore.NewID(), Stream: streamOf(id), Type: typ, Data: []byte(data),
				Created: eventstore.MakeTimestamp(at+1+rng.Int64N(50), uint16(rng.IntN(3))), Origin: devices[rng.IntN(3)]})
		}
	}
	return events
}

// TestReadModelConvergesLikeTheFold inserts the same concurrent histories
// into two stores in different random orders: both read models must be
// identical, and equal to the aggregate's fold of every task.
func TestReadModelConvergesLikeTheFold(t *testing.T) {
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 42))
	for round := range 10 {
		events := randomHistory(rng)
		var lists [2][]taskRow
		for i := range lists {
			a := openTestApp(t, fmt.Sprintf("r%d-%d", round, i))
			order := rng.Perm(len(events))
			for n, j := range order {
				_, err := a.Store().Insert(ctx, events[j])
				require.NoError(t, err)
				if n%5 == 0 { // project as events arrive, not only at the end
					require.NoError(t, a.CatchUp(ctx))
				}
			}
			require.NoError(t, a.CatchUp(ctx))
			rows, err := listTasks(ctx, a, true)
			require.NoError(t, err)
			require.Len(t, rows, 3)
			for _, r := range rows {
				task, err := ferry.Load(ctx, a.App, tasks, streamOf(r.ID))
				require.NoError(t, err)
				assert.Equal(t, task.Title, r.Title, "round %d title of %s", round, r.ID)
				assert.Equal(t, task.Done, r.Done, "round %d done of %s", round, r.ID)
				assert.Equal(t, task.Deleted, r.Deleted, "round %d deleted of %s", round, r.ID)
			}
			lists[i] = rows
		}
		require.Equal(t, lists[0], lists[1], "round %d", round)
	}
}
