package projector_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/projector"
)

func TestEffectsDropDoneAndAttach(t *testing.T) {
	ctx := context.Background()
	h := projector.NewHandlers()
	ran := 0
	projector.Once(h, "t", "count", func(ctx context.Context, eff projector.Effect, d struct{}) error {
		ran++
		return nil
	})
	fx, err := projector.NewEffects(h, projector.EffectOptions{DropDone: true})
	require.NoError(t, err)
	assert.ErrorIs(t, fx.Run(ctx), projector.ErrNotAttached)
	_, err = fx.List(ctx, projector.EffectPending)
	assert.ErrorIs(t, err, projector.ErrNotAttached)

	store := memory.New(eventstore.Config{OnAppend: fx.Hook})
	t.Cleanup(func() { store.Close() })
	fx.Attach(store)
	_, err = store.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{{Type: "t"}, {Type: "other"}}})
	require.NoError(t, err)
	n, err := fx.RunDue(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, 1, ran)
	kvs, err := store.ListState(ctx, "ferry/effect/")
	require.NoError(t, err)
	assert.Empty(t, kvs, "DropDone keeps no record")
	_, err = fx.List(ctx, "bogus")
	assert.Error(t, err)
}

func TestRunTwice(t *testing.T) {
	store := memory.New(eventstore.Config{})
	t.Cleanup(func() { store.Close() })
	p, err := projector.New("p", store, projector.Options{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	require.NoError(t, p.WaitFor(ctx, 0))
	// The first Run has started once WaitFor(0) returns: it loaded the checkpoint.
	assert.ErrorIs(t, p.Run(ctx), projector.ErrRunning)
	cancel()
	require.NoError(t, <-done)

	_, err = projector.New("", store, projector.Options{})
	assert.Error(t, err)
}
