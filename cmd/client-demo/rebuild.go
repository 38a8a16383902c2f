package main

import (
	"context"
	"fmt"

	"github.com/ferrysync/ferry/projector"
)

// cmdRebuild empties the tasks read model and rebuilds it by replaying
// every event. Replays never run side effects, so the effects log is
// untouched.
func cmdRebuild(ctx context.Context, a *app, _ []string) error {
	bar := newBar(a.stderr, "replaying")
	a.onReplay = func(p projector.Progress) {
		if p.Rebuild {
			bar.set(p.Done, p.Total)
		}
	}
	err := a.Rebuild(ctx)
	bar.finish()
	if err != nil {
		return err
	}
	pos, err := a.Store().Head(ctx)
	if err != nil {
		return err
	}
	seen, err := eventsSeen(ctx, a)
	if err != nil {
		return err
	}
	if a.g.json {
		return writeJSON(a.stdout, map[string]int64{"position": pos, "events_seen": seen})
	}
	fmt.Fprintf(a.stdout, "rebuilt the tasks read model from %d events\n", seen)
	return nil
}
