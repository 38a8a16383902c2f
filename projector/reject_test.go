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

// rejectIn marks e rejected and hands its position to p, in one
// transaction, as sync/client does; it calls the committed function.
func rejectIn(t *testing.T, s *memory.Store, p *projector.Projector, e eventstore.Event) {
	t.Helper()
	ctx := context.Background()
	var committed func()
	require.NoError(t, s.Update(ctx, func(tx eventstore.Tx) error {
		outbox, err := eventstore.As[eventstore.OutboxWriter](tx)
		if err != nil {
			return err
		}
		if err := outbox.Reject(ctx, e.ID); err != nil {
			return err
		}
		committed, err = p.ProjectRejected(ctx, tx, e.Position)
		return err
	}))
	if committed != nil {
		committed()
	}
}

// ProjectRejected resets a read model that handled the event (with a
// Reset), leaves alone one that did not, and records a failure without a
// Reset.
func TestProjectRejected(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		reset     bool
		caughtUp  bool
		wantReset bool
		failures  int
	}{
		{"handled, with reset", true, true, true, 0},
		{"not handled yet", true, false, false, 0},
		{"handled, no reset", false, true, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := memory.New(eventstore.Config{Origin: "dev"})
			var seen []int
			h := projector.NewHandlers()
			projector.All(h, "n", func(_ context.Context, _ eventstore.Tx, _ eventstore.Event, d payload) error {
				seen = append(seen, d.N)
				return nil
			})
			resets := 0
			opts := projector.Options{Handlers: h}
			if tc.reset {
				opts.Reset = func(context.Context, eventstore.Tx) error { seen, resets = nil, resets+1; return nil }
			}
			p, err := projector.New("p", s, opts)
			require.NoError(t, err)
			var evs []eventstore.Event
			for i := range 3 {
				out, err := s.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{{Type: "n", Data: []byte(`{"n":` + string(rune('1'+i)) + `}`)}}})
				require.NoError(t, err)
				evs = append(evs, out...)
			}
			if tc.caughtUp {
				_, err := p.CatchUp(ctx)
				require.NoError(t, err)
			}
			rejectIn(t, s, p, evs[1])
			_, err = p.CatchUp(ctx)
			require.NoError(t, err)
			if tc.wantReset {
				assert.Equal(t, 1, resets)
			} else {
				assert.Zero(t, resets)
			}
			if tc.reset {
				assert.Equal(t, []int{1, 3}, seen, "the rejected event reaches no handler")
			} else {
				assert.Equal(t, []int{1, 2, 3}, seen, "without a Reset the event stays until a rebuild")
			}
			failures, err := p.Failures(ctx)
			require.NoError(t, err)
			assert.Len(t, failures, tc.failures)
		})
	}
}
