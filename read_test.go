package ferry_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/eventstore"
)

// Query catches the read models up, scans each row into a T and reports
// a bad query or a failing scan.
func TestQuery(t *testing.T) {
	ctx := context.Background()
	app := openApp(t, filepath.Join(t.TempDir(), "app.db"), ferry.Options{Projections: []ferry.Projection{movesProjection()}})
	type move struct{ Item, What string }
	scan := func(r *sql.Rows) (m move, err error) {
		err = r.Scan(&m.Item, &m.What)
		return m, err
	}
	got, err := ferry.Query(ctx, app, scan, `SELECT item, what FROM moves`)
	require.NoError(t, err)
	assert.Empty(t, got)
	_, err = app.Append(ctx, "item/a", ItemNamed.New(Named{Name: "A"}), ItemAdjusted.New(Adjusted{By: 2}))
	require.NoError(t, err)
	got, err = ferry.Query(ctx, app, scan, `SELECT item, what FROM moves WHERE what <> ? ORDER BY id`, "A")
	require.NoError(t, err)
	assert.Equal(t, []move{{"item/a", "+2"}}, got, "read-your-writes")

	_, err = ferry.Query(ctx, app, scan, `SELECT nope FROM moves`)
	assert.ErrorContains(t, err, "ferry: query")
	n, err := ferry.Query(ctx, app, ferry.Column[int], `SELECT count(*) FROM moves`)
	require.NoError(t, err)
	assert.Equal(t, []int{2}, n)
	boom := errors.New("boom")
	_, err = ferry.Query(ctx, app, func(*sql.Rows) (move, error) { return move{}, boom }, `SELECT item, what FROM moves`)
	assert.ErrorIs(t, err, boom)
}

// Follow runs the app and delivers each event stored after the call, in
// order, until ctx ends or fn fails.
func TestFollow(t *testing.T) {
	ctx := context.Background()
	app := openApp(t, filepath.Join(t.TempDir(), "app.db"), ferry.Options{Projections: []ferry.Projection{movesProjection()}})
	_, err := app.Append(ctx, "item/a", ItemNamed.New(Named{Name: "before"}))
	require.NoError(t, err)

	fctx, cancel := context.WithCancel(ctx)
	seen := make(chan eventstore.Event, 10)
	done := make(chan error, 1)
	go func() {
		done <- app.Follow(fctx, func(e eventstore.Event) error {
			seen <- e
			return nil
		})
	}()
	require.Eventually(t, app.IsRunning, 10*time.Second, time.Millisecond)
	_, err = app.Append(ctx, "item/a", ItemAdjusted.New(Adjusted{By: 1}), ItemAdjusted.New(Adjusted{By: 2}))
	require.NoError(t, err)
	for _, want := range []int64{2, 3} {
		select {
		case e := <-seen:
			assert.Equal(t, want, e.Position, "only events after the call, in order")
		case <-time.After(10 * time.Second):
			t.Fatal("event not delivered")
		}
	}
	cancel()
	require.NoError(t, <-done, "ctx ending is not an error")
	assert.False(t, app.IsRunning())

	boom := errors.New("boom")
	go func() { done <- app.Follow(ctx, func(eventstore.Event) error { return boom }) }()
	require.Eventually(t, app.IsRunning, 10*time.Second, time.Millisecond)
	_, err = app.Append(ctx, "item/a", ItemAdjusted.New(Adjusted{By: 3}))
	require.NoError(t, err)
	assert.ErrorIs(t, <-done, boom)
	assert.False(t, app.IsRunning(), "fn's error stops the app")
}
