package projectortest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/projector"
)

// testBatchHandlers checks that batch handlers get, per transaction, the
// events of their types that their kind may see, in Position order, during
// catch-up and rebuild alike.
func testBatchHandlers(t *testing.T, open Opener) {
	ctx := testCtx(t)
	var onCalls, allCalls [][]int64
	record := func(calls *[][]int64) projector.BatchFunc {
		return func(ctx context.Context, tx eventstore.Tx, events []eventstore.Event) error {
			var pos []int64
			for _, e := range events {
				pos = append(pos, e.Position)
			}
			*calls = append(*calls, pos)
			return nil
		}
	}
	e := newEnv(t, open, projector.EffectOptions{}, func(h *projector.Handlers) {
		projector.OnBatch(h, record(&onCalls), TaskRenamed)
		projector.AllBatch(h, record(&allCalls), TaskRenamed)
	})
	mixedHistory(t, e.store)
	var wantOn, wantAll []int64
	for _, ev := range testutil.Ledger(t, e.store) {
		if ev.Type != TaskRenamed {
			continue
		}
		wantAll = append(wantAll, ev.Position)
		if !ev.Outdated {
			wantOn = append(wantOn, ev.Position)
		}
	}
	require.NotEqual(t, wantOn, wantAll, "the history has outdated renames")

	check := func(name string) {
		t.Helper()
		var gotOn, gotAll []int64
		for _, c := range onCalls {
			assert.LessOrEqual(t, len(c), 4, "%s: one call per transaction", name)
			assert.NotEmpty(t, c)
			gotOn = append(gotOn, c...)
		}
		for _, c := range allCalls {
			gotAll = append(gotAll, c...)
		}
		assert.Equal(t, wantOn, gotOn, name)
		assert.Equal(t, wantAll, gotAll, name)
	}
	p := e.projector("batch", projector.Options{BatchSize: 4})
	_, err := p.CatchUp(ctx)
	require.NoError(t, err)
	check("catch-up")

	onCalls, allCalls = nil, nil
	_, err = p.Rebuild(ctx, ResetReadModel(t, e.store))
	require.NoError(t, err)
	check("rebuild")
}
