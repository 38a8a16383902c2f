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

// Unsubscribe stops pulling the streams only these subscriptions covered.
// What the app holds of them stays, unless Options.Sync.Evict is set: the
// next sync then evicts them, each once its local events are pushed, and
// the read models are rebuilt without them. See
// client.Replicator.Unsubscribe.
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
