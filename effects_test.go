package ferry_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
)

// Effects lists what is not done, a done effect leaves no record, and
// RetryEffect refuses an effect that has not failed.
func TestEffectsOutbox(t *testing.T) {
	ctx := context.Background()
	fail := ferry.Once(ItemAdjusted, "fail-negative", func(_ context.Context, e ferry.Stored[Adjusted]) error {
		if e.Data.By < 0 {
			return errors.New("refused")
		}
		return nil
	})
	app := openApp(t, filepath.Join(t.TempDir(), "app.db"), ferry.Options{Effects: []ferry.Handler{fail}})
	ok, err := app.Append(ctx, "item/a", ItemAdjusted.New(Adjusted{By: 1}))
	require.NoError(t, err)
	bad, err := app.Append(ctx, "item/a", ItemAdjusted.New(Adjusted{By: -1}))
	require.NoError(t, err)
	require.NoError(t, app.CatchUp(ctx))

	recs, err := app.Effects(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, projector.EffectPending, recs[0].Status)
	assert.Equal(t, bad[0].ID, recs[0].Event.ID)
	assert.Equal(t, 1, recs[0].Attempts)
	assert.Equal(t, "refused", recs[0].LastError)
	st, err := app.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, ferry.Status{Status: client.Status{Device: app.Device()}, EffectsPending: 1}, st, "no hub: device and effects")
	kvs, err := app.Store().ListState(ctx, "ferry/effect/")
	require.NoError(t, err)
	assert.Len(t, kvs, 1, "the done effect of %s leaves no record", ok[0].ID)

	err = app.RetryEffect(ctx, bad[0].ID, "fail-negative")
	assert.ErrorIs(t, err, eventstore.ErrNotFound, "a pending effect is not retried by hand")
}

// Options.Progress reports a rebuild up to the ledger's head.
func TestProgress(t *testing.T) {
	ctx := context.Background()
	var last projector.Progress
	app := openApp(t, filepath.Join(t.TempDir(), "app.db"), ferry.Options{
		Projections: []ferry.Projection{movesProjection()},
		Progress:    func(p projector.Progress) { last = p },
	})
	_, err := app.Append(ctx, "item/a", ItemAdjusted.New(Adjusted{By: 1}), ItemAdjusted.New(Adjusted{By: 2}))
	require.NoError(t, err)
	require.NoError(t, app.CatchUp(ctx))
	assert.Equal(t, projector.Progress{Projector: "moves", Done: 2, Total: 2}, last)
	require.NoError(t, app.Rebuild(ctx))
	assert.Equal(t, projector.Progress{Projector: "moves", Done: 2, Total: 2, Rebuild: true}, last)
}
