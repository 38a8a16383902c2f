package main

import (
	"context"
	"encoding/json"
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

	// bar, set by a command before it syncs or rebuilds, shows the
	// replicator's pull and the read model's replay; the zero bar draws
	// nothing.
	bar *bar
	// onSync receives the replicator's progress: by default it draws
	// the pull on bar; sync --watch reports the connection instead.
	onSync func(client.Progress)
}

// openApp opens the device's database with the device name it was first
// used with: --device the first time (or a generated id), the same name
// ever after. The store keeps the name; another --device is refused.
func openApp(ctx context.Context, g globals, o opts, stdout, stderr io.Writer) (*app, error) {
	a := &app{g: g, o: o, stdout: stdout, stderr: stderr, bar: &bar{}}
	a.onSync = func(p client.Progress) {
		if p.Online && !p.CaughtUp {
			a.bar.set(p.Cursor-p.Since, p.Head-p.Since)
		}
	}
	fa, err := ferry.Open(ctx, g.db, ferry.Options{
		Device:      g.device,
		Projections: []ferry.Projection{tasksProjection},
		Effects:     []ferry.Handler{effectHandler(g.effects)},
		Progress: func(p projector.Progress) {
			if p.Rebuild {
				a.bar.set(p.Done, p.Total)
			}
		},
		Sync: ferry.SyncOptions{URL: g.server, Token: g.token, Tune: func(c *client.Config) {
			c.OnProgress = func(p client.Progress) { a.onSync(p) }
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

// withBar runs fn with a progress bar labelled label on stderr, and clears
// it after.
func (a *app) withBar(label string, fn func() error) error {
	a.bar = newBar(a.stderr, label)
	defer a.bar.finish()
	return fn()
}

// print writes v to stdout as indented JSON with --json, else the text
// that format makes of args.
func (a *app) print(v any, format string, args ...any) error {
	if a.g.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := fmt.Fprintf(a.stdout, format, args...)
	return err
}
