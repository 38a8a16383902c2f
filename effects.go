package ferry

import (
	"context"
	"fmt"

	"github.com/ferrysync/ferry/projector"
)

// Effects returns the side effects not done yet, in the order their events
// were appended: pending ones (due now, or after a failed attempt's backoff)
// and failed ones (attempts exhausted, waiting for RetryEffect). A done
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
