package ferry_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/sync/synctest"
)

// TestReviewReadAfterEvictingTheLastEvents (review of the eviction
// change): while Run runs, Read waits for the projections to reach the
// store's Head. Evicting the streams holding the ledger's last events
// leaves Head above every event (the evicted head), and the projection,
// reset and replayed, ends at the last event still stored: Read must not
// wait for a position no event will ever reach.
func TestReviewReadAfterEvictingTheLastEvents(t *testing.T) {
	ctx := context.Background()
	url := synctest.StartSyncd(t, bins.Path(t, "syncd"), testSecret, nil, "--data-dir", t.TempDir()).URL()
	open := func(device string, evict bool) *ferry.App {
		opts := ferry.Options{Device: device, Projections: []ferry.Projection{movesProjection()}}
		opts.Sync.URL, opts.Sync.Token = url, synctest.Token(t, testSecret, "acme", device)
		opts.Sync.Evict = evict
		app := openApp(t, filepath.Join(t.TempDir(), device+".db"), opts)
		require.NoError(t, app.Subscribe(ctx, "list/groceries/", "list/work/"))
		return app
	}
	alice, bob := open("alice", false), open("bob", true)
	_, err := alice.Append(ctx, "list/groceries/milk", ItemAdjusted.New(Adjusted{By: 2}))
	require.NoError(t, err)
	_, err = alice.Append(ctx, "list/work/report", ItemAdjusted.New(Adjusted{By: 1})) // bob's last event
	require.NoError(t, err)
	_, err = alice.Sync(ctx)
	require.NoError(t, err)
	_, err = bob.Sync(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"list/groceries/milk +2", "list/work/report +1"}, moves(t, bob))

	rctx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- bob.Run(rctx) }()
	t.Cleanup(func() { stop(); <-ran })

	require.NoError(t, bob.Unsubscribe(ctx, "list/work/"))
	require.Eventually(t, func() bool {
		v, err := bob.Store().StreamVersion(ctx, "list/work/report")
		return err == nil && v == 0
	}, 10*time.Second, 10*time.Millisecond, "Run evicts the list")

	rd, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var got []string
	err = bob.Read(rd, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(rd, `SELECT item || ' ' || what FROM moves ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return err
			}
			got = append(got, s)
		}
		return rows.Err()
	})
	require.NoError(t, err, "Read while Run runs, after the last events were evicted")
	assert.Equal(t, []string{"list/groceries/milk +2"}, got)
}
