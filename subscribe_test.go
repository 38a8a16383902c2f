package ferry_test

import (
	"context"
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
