package main

import (
	"context"
	"fmt"

	"github.com/ferrysync/ferry/projector"
)

// cmdRebuild drops the tasks read model and rebuilds it by replaying every
// event. Replays never run Once handlers, so the effects log is untouched.
func cmdRebuild(ctx context.Context, a *app, _ []string) error {
	bar := newBar(a.stderr, "replaying")
	p, err := projector.New(projectorName, a.store, projector.Options{
		Handlers: a.handlers,
		Progress: func(p projector.Progress) { bar.set(p.Done, p.Total) },
	})
	if err != nil {
		return err
	}
	pos, err := p.Rebuild(ctx, resetReadModel)
	bar.finish()
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	seen, err := eventsSeen(ctx, a.store)
	if err != nil {
		return err
	}
	if a.g.json {
		return writeJSON(a.stdout, map[string]int64{"position": pos, "events_seen": seen})
	}
	fmt.Fprintf(a.stdout, "rebuilt the tasks read model from %d events\n", seen)
	return nil
}
