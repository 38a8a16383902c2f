package ferry

import "context"

// Subscribe adds stream prefixes to what the app pulls from the hub (a
// stream's name is a prefix of itself). The next sync backfills their
// history; a running Run picks them up at once. See
// client.Replicator.Subscribe. Without Options.Sync.URL it returns
// ErrNoHub.
func (a *App) Subscribe(ctx context.Context, prefixes ...string) error {
	if a.replicator == nil {
		return ErrNoHub
	}
	return a.replicator.Subscribe(ctx, prefixes...)
}

// Unsubscribe stops pulling the streams only these subscriptions covered;
// what the app holds of them stays. See client.Replicator.Unsubscribe.
func (a *App) Unsubscribe(ctx context.Context, prefixes ...string) error {
	if a.replicator == nil {
		return ErrNoHub
	}
	return a.replicator.Unsubscribe(ctx, prefixes...)
}

// Subscriptions lists the prefixes the app pulls (empty: every stream its
// token allows).
func (a *App) Subscriptions(ctx context.Context) ([]string, error) {
	if a.replicator == nil {
		return nil, ErrNoHub
	}
	return a.replicator.Subscriptions(ctx)
}
