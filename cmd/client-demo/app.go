package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
)

// app is everything a command works with: the device's ferry.App (its
// store, the tasks read model, the side-effect outbox and the replicator),
// the flags and the output.
type app struct {
	*ferry.App
	g      globals
	o      opts
	stdout io.Writer
	stderr io.Writer

	// onSync and onReplay, set by a command before it syncs or rebuilds,
	// receive the replicator's and the read model's progress.
	onSync   func(client.Progress)
	onReplay func(projector.Progress)
}

// openApp opens the device's database with the device name it was first
// used with: --device the first time (or a generated id), the same name
// ever after. The store keeps the name; another --device is refused.
func openApp(ctx context.Context, g globals, o opts, stdout, stderr io.Writer) (*app, error) {
	a := &app{g: g, o: o, stdout: stdout, stderr: stderr}
	fa, err := ferry.Open(ctx, g.db, ferry.Options{
		Device:      g.device,
		Projections: []ferry.Projection{tasksProjection},
		Effects:     []ferry.Handler{effectHandler(g.effects)},
		Progress: func(p projector.Progress) {
			if a.onReplay != nil {
				a.onReplay(p)
			}
		},
		Sync: ferry.SyncOptions{URL: g.server, Token: g.token, Tune: func(c *client.Config) {
			c.OnProgress = func(p client.Progress) {
				if a.onSync != nil {
					a.onSync(p)
				}
			}
		}},
	})
	if oe, ok := errors.AsType[*eventstore.OriginError](err); ok {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("%s belongs to device %q, not %q (a database keeps the device name of its first use)", g.db, oe.Stored, oe.Configured)}
	}
	if err != nil {
		return nil, err
	}
	a.App = fa
	return a, nil
}
