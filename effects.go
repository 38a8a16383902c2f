package ferry

import (
	"context"
	"fmt"

	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
)

// Effects returns the side effects not done yet: first the pending ones
// (due now, or after a failed attempt's backoff), then the failed ones
// (attempts exhausted, waiting for RetryEffect), each in the order their
// events were appended. A done
// effect leaves no record.
func (a *App) Effects(ctx context.Context) ([]projector.EffectRecord, error) {
	var out []projector.EffectRecord
	for _, status := range []projector.EffectStatus{projector.EffectPending, projector.EffectFailed} {
		recs, err := a.effects.List(ctx, status)
		if err != nil {
			return nil, fmt.Errorf("ferry: effects: %w", err)
		}
		out = append(out, recs...)
	}
	return out, nil
}

// RetryEffect moves the failed side effect name (the Once handler's name)
// of the event eventID back to pending with its attempts reset: the next
// CatchUp or Sync runs it, and so does Run at once. When no such failed
// effect exists the error unwraps to eventstore.ErrNotFound.
func (a *App) RetryEffect(ctx context.Context, eventID, name string) error {
	if err := a.effects.Retry(ctx, eventID, name); err != nil {
		return fmt.Errorf("ferry: retry effect: %w", err)
	}
	return nil
}

// Status is an app's state, for status commands and screens: the
// replication state (only Device without a hub) and the count of side
// effects not done yet, by kind (see Effects).
type Status struct {
	client.Status
	// EffectsPending counts pending side effects, EffectsFailed failed
	// ones (attempts exhausted, waiting for RetryEffect).
	EffectsPending, EffectsFailed int
}

// Status returns the app's state. It works offline: it reads what the
// replicator and the effects outbox recorded in the database.
func (a *App) Status(ctx context.Context) (Status, error) {
	st := Status{Status: client.Status{Device: a.Device()}}
	if a.replicator != nil {
		var err error
		if st.Status, err = a.replicator.Status(ctx); err != nil {
			return Status{}, fmt.Errorf("ferry: status: %w", err)
		}
	}
	recs, err := a.Effects(ctx)
	if err != nil {
		return Status{}, err
	}
	for _, r := range recs {
		if r.Status == projector.EffectFailed {
			st.EffectsFailed++
		} else {
			st.EffectsPending++
		}
	}
	return st, nil
}
