package projector_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
)

type payload struct {
	N int `json:"n"`
}

// TestDispatchMatrix checks the gating table over all four flag
// combinations and the three handler kinds, dispatching synthetic events
// inline (no store involved).
func TestDispatchMatrix(t *testing.T) {
	cases := []struct {
		hydrated, outdated bool
		want               []string
		gate               projector.Kind
	}{
		{false, false, []string{"once", "on", "all"}, projector.KindOnce | projector.KindOn | projector.KindAll},
		{true, false, []string{"on", "all"}, projector.KindOn | projector.KindAll},
		{false, true, []string{"all"}, projector.KindAll},
		{true, true, []string{"all"}, projector.KindAll},
	}
	for _, tc := range cases {
		t.Run(tc.gate.String(), func(t *testing.T) {
			var ran []string
			h := projector.NewHandlers()
			projector.Once(h, "t", "fx", func(ctx context.Context, eff projector.Effect, d payload) error {
				assert.Equal(t, 7, d.N)
				assert.Equal(t, eff.Event.ID, eff.Key)
				ran = append(ran, "once")
				return nil
			})
			projector.On(h, "t", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d payload) error {
				assert.Equal(t, 7, d.N)
				ran = append(ran, "on")
				return nil
			})
			projector.All(h, "t", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d payload) error {
				ran = append(ran, "all")
				return nil
			})
			projector.On(h, "other", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d payload) error {
				ran = append(ran, "other")
				return nil
			})
			require.NoError(t, h.Err())
			e := eventstore.Event{ID: eventstore.NewID(), Type: "t", Data: []byte(`{"n":7}`), Hydrated: tc.hydrated, Outdated: tc.outdated}
			assert.Equal(t, tc.gate, projector.Gate(e))
			all := projector.KindOnce | projector.KindOn | projector.KindAll
			require.NoError(t, h.Dispatch(context.Background(), nil, e, all))
			assert.Equal(t, tc.want, ran)

			ran = nil
			require.NoError(t, h.Dispatch(context.Background(), nil, e, projector.KindOn|projector.KindAll))
			assert.NotContains(t, ran, "once", "a projector's mask never runs once handlers")
		})
	}
}

func TestDispatchErrors(t *testing.T) {
	h := projector.NewHandlers()
	projector.On(h, "t", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d payload) error {
		return errors.New("nope")
	})
	projector.All(h, "p", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d payload) error {
		panic("bad handler")
	})
	e := eventstore.Event{ID: eventstore.NewID(), Type: "t", Data: []byte(`{"n":1}`), Position: 4}
	err := h.Dispatch(context.Background(), nil, e, projector.KindOn|projector.KindAll)
	var herr *projector.HandlerError
	require.ErrorAs(t, err, &herr)
	assert.Equal(t, projector.KindOn, herr.Kind)
	assert.Equal(t, e.ID, herr.Event.ID)

	e.Type = "p"
	err = h.Dispatch(context.Background(), nil, e, projector.KindAll)
	require.ErrorAs(t, err, &herr)
	assert.Contains(t, err.Error(), "panicked")

	e.Type, e.Data = "t", []byte(`{"n":"not a number"}`)
	err = h.Dispatch(context.Background(), nil, e, projector.KindOn)
	require.Error(t, err, "undecodable data is a handler error")
}

func TestRegistrationErrors(t *testing.T) {
	h := projector.NewHandlers()
	fx := func(ctx context.Context, eff projector.Effect, d payload) error { return nil }
	projector.Once(h, "t", "mail", fx)
	require.NoError(t, h.Err())
	projector.Once(h, "t", "mail", fx)
	require.Error(t, h.Err())
	_, err := projector.NewEffects(h, projector.EffectOptions{})
	require.Error(t, err)

	for _, reg := range []func(h *projector.Handlers){
		func(h *projector.Handlers) { projector.Once(h, "t", "", fx) },
		func(h *projector.Handlers) { projector.Once(h, "", "x", fx) },
		func(h *projector.Handlers) { projector.Once[payload](h, "t", "x", nil) },
		func(h *projector.Handlers) { projector.On[payload](h, "t", nil) },
	} {
		h := projector.NewHandlers()
		reg(h)
		assert.Error(t, h.Err())
	}
}

func TestBackoffDelay(t *testing.T) {
	b := projector.Backoff{Attempts: 5, Initial: 10, Max: 35}
	assert.Equal(t, []int64{10, 20, 35, 35}, []int64{int64(b.Delay(1)), int64(b.Delay(2)), int64(b.Delay(3)), int64(b.Delay(4))})
}

// A rejected event reaches no handler, whatever its other flags.
func TestGateRejected(t *testing.T) {
	for _, hydrated := range []bool{false, true} {
		for _, outdated := range []bool{false, true} {
			e := eventstore.Event{Hydrated: hydrated, Outdated: outdated, Rejected: true}
			assert.Equal(t, projector.Kind(0), projector.Gate(e), "hydrated=%v outdated=%v", hydrated, outdated)
		}
	}
}
