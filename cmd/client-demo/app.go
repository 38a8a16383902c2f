package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/projector"
)

// app is everything a command works with: the device's store, the task
// repository, the read model's projector and the side-effect outbox.
type app struct {
	g      globals
	o      opts
	stdout io.Writer
	stderr io.Writer

	store    *sqlite.Store
	clock    *eventstore.Clock
	handlers *projector.Handlers
	fx       *projector.Effects
	proj     *projector.Projector
	tasks    *aggregate.Repository[*Task]
}

// openApp opens the device's database and wires the app's parts to it.
func openApp(ctx context.Context, g globals, o opts, stdout, stderr io.Writer) (*app, error) {
	a := &app{g: g, o: o, stdout: stdout, stderr: stderr, clock: eventstore.NewClock()}

	// Handlers: On keeps the tasks table current, All counts events, Once
	// appends completions made on this device to the effects log.
	a.handlers = projector.NewHandlers()
	readModelHandlers(a.handlers)
	effectHandlers(a.handlers, g.effects)
	fx, err := projector.NewEffects(a.handlers, projector.EffectOptions{DropDone: true})
	if err != nil {
		return nil, err
	}
	a.fx = fx

	if err := a.openStore(ctx); err != nil {
		return nil, err
	}
	a.fx.Attach(a.store)
	if a.proj, err = projector.New(projectorName, a.store, projector.Options{Handlers: a.handlers}); err != nil {
		a.store.Close()
		return nil, err
	}
	a.tasks = aggregate.NewRepository(a.store, taskReducer(), aggregate.WithClock(a.clock))
	return a, nil
}

// openStore opens the SQLite file with the device name it was first used
// with: --device the first time (or a generated id), the same name ever
// after. The store keeps the name; another --device for the same file is
// refused.
func (a *app) openStore(ctx context.Context) error {
	store, err := sqlite.Open(ctx, a.g.db, sqlite.Options{Config: eventstore.Config{
		Registry: registry(),
		Clock:    a.clock,
		Origin:   a.g.device,
		OnAppend: a.fx.Hook, // records pending effects atomically with local events
	}})
	var oe *eventstore.OriginError
	switch {
	case errors.As(err, &oe):
		return &exitError{code: exitUsage, err: fmt.Errorf("%s belongs to device %q, not %q (a database keeps the device name of its first use)", a.g.db, oe.Stored, oe.Configured)}
	case err != nil:
		return fmt.Errorf("open %s: %w", a.g.db, err)
	}
	err = store.Update(ctx, func(tx eventstore.Tx) error {
		q, err := sqlOf(tx)
		if err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, readModelSchema)
		return err
	})
	if err != nil {
		store.Close()
		return err
	}
	a.store = store
	return nil
}

// device returns the device name.
func (a *app) device() string { return a.store.Origin() }

// close closes the store.
func (a *app) close() error { return a.store.Close() }

// settle brings the read model up to date and runs the side effects that
// are due, so that a command leaves everything done when it exits.
func (a *app) settle(ctx context.Context) error {
	if _, err := a.proj.CatchUp(ctx); err != nil {
		return fmt.Errorf("update read model: %w", err)
	}
	if _, err := a.fx.RunDue(ctx); err != nil {
		return fmt.Errorf("run side effects: %w", err)
	}
	return nil
}
