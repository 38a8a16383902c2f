package ferry_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/sync/synctest"
)

// Two devices share one list and not another: each pulls what it
// subscribes to, and a later subscription brings the list's history, read
// model included.
func TestSubscriptionsShareOneList(t *testing.T) {
	ctx := context.Background()
	url := synctest.StartSyncd(t, bins.Path(t, "syncd"), testSecret, nil, "--data-dir", t.TempDir()).URL()
	open := func(device string, lists ...string) *ferry.App {
		opts := ferry.Options{Device: device, Projections: []ferry.Projection{movesProjection()}}
		opts.Sync.URL, opts.Sync.Token = url, synctest.Token(t, testSecret, "acme", device)
		app := openApp(t, filepath.Join(t.TempDir(), device+".db"), opts)
		require.NoError(t, app.Subscribe(ctx, lists...))
		return app
	}
	alice := open("alice", "list/groceries/", "list/work/")
	bob := open("bob", "list/groceries/")
	for stream, by := range map[string]int{"list/groceries/milk": 2, "list/work/report": 1} {
		_, err := alice.Append(ctx, stream, ItemAdjusted.New(Adjusted{By: by}))
		require.NoError(t, err)
	}
	_, err := alice.Sync(ctx)
	require.NoError(t, err)
	_, err = bob.Sync(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"list/groceries/milk +2"}, moves(t, bob), "bob does not see alice's work list")

	require.NoError(t, bob.Subscribe(ctx, "list/work/"))
	res, err := bob.Sync(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Backfilled)
	assert.ElementsMatch(t, []string{"list/groceries/milk +2", "list/work/report +1"}, moves(t, bob))
	subs, err := bob.Subscriptions(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"list/groceries/", "list/work/"}, subs)
}

// With Sync.Evict, a list bob unsubscribes from leaves his device at the
// next sync, read model included, after his own offline change to it is
// pushed; OnEvict sees the streams; subscribing again brings it back.
func TestUnsubscribeEvicts(t *testing.T) {
	ctx := context.Background()
	url := synctest.StartSyncd(t, bins.Path(t, "syncd"), testSecret, nil, "--data-dir", t.TempDir()).URL()
	var evicted []string
	open := func(device string, evict bool) *ferry.App {
		opts := ferry.Options{Device: device, Projections: []ferry.Projection{movesProjection()}}
		opts.Sync.URL, opts.Sync.Token = url, synctest.Token(t, testSecret, "acme", device)
		if evict {
			opts.Sync.Evict = true
			opts.Sync.OnEvict = func(_ context.Context, tx *sql.Tx, streams []string) error {
				require.NotNil(t, tx)
				evicted = append(evicted, streams...)
				return nil
			}
		}
		app := openApp(t, filepath.Join(t.TempDir(), device+".db"), opts)
		require.NoError(t, app.Subscribe(ctx, "list/groceries/", "list/work/"))
		return app
	}
	alice, bob := open("alice", false), open("bob", true)
	for stream, by := range map[string]int{"list/groceries/milk": 2, "list/work/report": 1} {
		_, err := alice.Append(ctx, stream, ItemAdjusted.New(Adjusted{By: by}))
		require.NoError(t, err)
	}
	_, err := alice.Sync(ctx)
	require.NoError(t, err)
	_, err = bob.Sync(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"list/groceries/milk +2", "list/work/report +1"}, moves(t, bob))

	_, err = bob.Append(ctx, "list/work/report", ItemAdjusted.New(Adjusted{By: 5})) // not pushed yet
	require.NoError(t, err)
	require.NoError(t, bob.Unsubscribe(ctx, "list/work/"))
	res, err := bob.Sync(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Pushed)
	assert.Equal(t, 2, res.Evicted)
	assert.Equal(t, []string{"list/work/report"}, evicted)
	assert.Equal(t, []string{"list/groceries/milk +2"}, moves(t, bob), "the read model is rebuilt without the list")
	v, err := bob.Store().StreamVersion(ctx, "list/work/report")
	require.NoError(t, err)
	assert.Zero(t, v)
	_, err = alice.Sync(ctx)
	require.NoError(t, err)
	assert.Contains(t, moves(t, alice), "list/work/report +5", "bob's change reached the hub before it left his device")

	require.NoError(t, bob.Subscribe(ctx, "list/work/"))
	res, err = bob.Sync(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Backfilled)
	assert.ElementsMatch(t, []string{"list/groceries/milk +2", "list/work/report +1", "list/work/report +5"}, moves(t, bob))
}
