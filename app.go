package ferry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
)

// Options is everything Open wires together.
type Options struct {
	// Device is this device's id, stamped on its events and sent to the
	// hub. The database keeps the id of its first open (a generated one
	// when empty); a later open with another id fails with an
	// *eventstore.OriginError (errors.Is eventstore.ErrOriginChanged), and
	// an empty Device means the stored one.
	Device string
	// Events lists event types the app appends or folds that no handler
	// names; the types of every handler are registered without listing.
	Events []EventType
	// Projections are the SQL read models kept in the database file.
	Projections []Projection
	// Effects are the side effects (Once handlers).
	Effects []Handler
	// Sync configures sync with a hub; a zero Sync (no URL) means none.
	Sync SyncOptions
	// Progress, when set, is called as the read models catch up and
	// rebuild (Done of Total events; Rebuild is set during Rebuild),
	// for progress bars. Calls of one projection never overlap.
	Progress func(projector.Progress)
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// SyncOptions configures sync with a hub (a syncd).
type SyncOptions struct {
	// URL is the hub's WebSocket endpoint, e.g. "ws://127.0.0.1:8080/sync".
	URL string
	// Token is the bearer token (see syncd token). TokenFunc, when set,
	// takes precedence and is called before each connection.
	Token string
	// TokenFunc returns the token for the next connection.
	TokenFunc func(ctx context.Context) (string, error)
	// Streams narrows what is pulled to streams with these prefixes.
	Streams []string
	// Evict, when set, has the device drop what it holds of the streams
	// that leave its subscriptions (App.Unsubscribe): at the next sync,
	// whole streams, each once its local events are pushed. The
	// projections are reset in the eviction's transaction and rebuilt
	// without them (by the Sync's catch-up, CatchUp or Run), and OnEvict
	// runs. A stream subscribed again is backfilled. False (the default):
	// they stay, no longer pulled. See client.Config.Evict.
	Evict bool
	// OnEvict, when set (Evict must be too), runs inside each eviction's
	// transaction with the streams evicted, sorted: for tables the app
	// keeps outside its Projections, whose rows of those streams it
	// deletes there.
	OnEvict func(ctx context.Context, tx *sql.Tx, streams []string) error
	// Tune, when set, adjusts the replicator's configuration (limits,
	// backoff, progress) after Open has filled it in.
	Tune func(*client.Config)
}

// App is an offline-first app's local side: its SQLite event store, device
// identity, read models, effects outbox and, with a hub, its replicator.
// Make it with Open. Its methods are safe for concurrent use.
type App struct {
	store      *sqlite.Store
	clock      *eventstore.Clock
	projectors []*projector.Projector
	effects    *projector.Effects
	replicator *client.Replicator
	running    atomic.Bool
	runDone    atomic.Pointer[chan struct{}] // closed when the active Run returns
	log        *slog.Logger
}

// Open opens (creating if needed) the app's database file at path and
// wires everything in opts to it: it registers the event types, runs each
// projection's Schema, installs the effects outbox and creates the
// projectors and, when opts.Sync has a URL, the replicator. Nothing runs
// until Run, Sync, CatchUp or Read. Options it cannot wire are an
// *OptionsError.
func Open(ctx context.Context, path string, opts Options) (*App, error) {
	registry, err := registryOf(opts)
	if err != nil {
		return nil, err
	}
	fxHandlers, err := effectHandlers(opts.Effects)
	if err != nil {
		return nil, err
	}
	// A done effect leaves no record: Effects lists only what is left.
	effects, err := projector.NewEffects(fxHandlers, projector.EffectOptions{DropDone: true, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	a := &App{clock: eventstore.NewClock(), effects: effects, log: opts.Logger}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.store, err = sqlite.Open(ctx, path, sqlite.Options{Config: eventstore.Config{
		Registry: registry, Clock: a.clock, Origin: opts.Device, Logger: opts.Logger,
		OnAppend: effects.Hook, // a pending effect commits with its event
	}})
	if err != nil {
		return nil, fmt.Errorf("ferry: open %s: %w", path, err)
	}
	effects.Attach(a.store)
	if err := a.wire(ctx, opts); err != nil {
		_ = a.store.Close()
		return nil, err
	}
	return a, nil
}

// wire creates the projections and the replicator.
func (a *App) wire(ctx context.Context, opts Options) error {
	seen := map[string]bool{}
	for _, p := range opts.Projections {
		switch {
		case p.Name == "":
			return optionsError("Projections", "a projection without a Name")
		case seen[p.Name]:
			return optionsError("Projections", "projection %q listed twice", p.Name)
		case p.Reset == "":
			return optionsError("Projections", "projection %q has no Reset (rebuilds and rejections need it)", p.Name)
		}
		seen[p.Name] = true
		h, err := p.handlers()
		if err != nil {
			return err
		}
		if err := a.exec(ctx, p.Schema); err != nil {
			return fmt.Errorf("ferry: projection %s: schema: %w", p.Name, err)
		}
		reset := p.Reset
		proj, err := projector.New(p.Name, a.store, projector.Options{Handlers: h, Logger: opts.Logger, Progress: opts.Progress,
			Reset: func(ctx context.Context, tx eventstore.Tx) error { return execTx(ctx, tx, reset) }})
		if err != nil {
			return err
		}
		a.projectors = append(a.projectors, proj)
	}
	if opts.Sync.URL == "" {
		return nil
	}
	cfg := client.Config{URL: opts.Sync.URL, Token: opts.Sync.Token, TokenFunc: opts.Sync.TokenFunc,
		Streams: opts.Sync.Streams, Logger: opts.Logger, Evict: opts.Sync.Evict}
	if onEvict := opts.Sync.OnEvict; onEvict != nil {
		if !opts.Sync.Evict {
			return optionsError("Sync.OnEvict", "set without Sync.Evict")
		}
		cfg.OnEvict = func(ctx context.Context, tx eventstore.Tx, streams []string) error {
			q, err := sqlOf(tx)
			if err != nil {
				return err
			}
			return onEvict(ctx, q, streams)
		}
	}
	for _, p := range a.projectors {
		cfg.Projectors = append(cfg.Projectors, p)
	}
	if opts.Sync.Tune != nil {
		opts.Sync.Tune(&cfg)
	}
	r, err := client.New(a.store, cfg)
	if err != nil {
		return fmt.Errorf("ferry: sync: %w", err)
	}
	a.replicator = r
	return nil
}

// exec runs SQL statements in one write transaction.
func (a *App) exec(ctx context.Context, stmts string) error {
	if stmts == "" {
		return nil
	}
	return a.store.Update(ctx, func(tx eventstore.Tx) error { return execTx(ctx, tx, stmts) })
}

// execTx runs SQL statements through tx.
func execTx(ctx context.Context, tx eventstore.Tx, stmts string) error {
	q, err := sqlOf(tx)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, stmts)
	return err
}

// registryOf registers the event types of opts: those listed and those
// its handlers name. Two definitions of one name are refused.
func registryOf(opts Options) (*eventstore.Registry, error) {
	defs := append([]EventType(nil), opts.Events...)
	for _, p := range opts.Projections {
		for _, h := range p.Handlers {
			defs = append(defs, h.def)
		}
	}
	for _, h := range opts.Effects {
		defs = append(defs, h.def)
	}
	registry := eventstore.NewRegistry()
	byName := map[string]EventType{}
	for _, d := range defs {
		if d == nil || isNilDef(d) {
			continue // a handler without a definition: reported by its projection
		}
		if prev, ok := byName[d.Name()]; ok {
			if prev != d {
				return nil, optionsError("Events", "event type %q defined twice", d.Name())
			}
			continue
		}
		byName[d.Name()] = d
		t, err := d.definition()
		if err != nil {
			return nil, optionsError("Events", "%v", err)
		}
		if err := registry.Register(t); err != nil {
			return nil, optionsError("Events", "%v", err)
		}
	}
	return registry, nil
}

// isNilDef reports whether d is a nil *EventDef.
func isNilDef(d EventType) bool {
	type nilable interface{ isNil() bool }
	n, ok := d.(nilable)
	return ok && n.isNil()
}

func (d *EventDef[T]) isNil() bool { return d == nil }

// Device returns the device id stamped on this app's events.
func (a *App) Device() string { return a.store.Origin() }

// Store returns the app's event store, for what the lower packages offer
// beyond the app (ReadStream, Status, time travel). Writes through it skip
// nothing: effects and projections see them as they see App.Append's.
func (a *App) Store() *sqlite.Store { return a.store }

// Replicator returns the app's replicator (nil without Options.Sync.URL),
// for its Status and Rejections.
func (a *App) Replicator() *client.Replicator { return a.replicator }

// Close closes the database. Run must have returned.
func (a *App) Close() error {
	if err := a.store.Close(); err != nil {
		return fmt.Errorf("ferry: close: %w", err)
	}
	return nil
}

// Append appends events to stream, in one transaction, whatever the
// stream's version (aggregates check versions: see Execute). It returns
// them as stored. An invalid payload stores nothing and returns an error
// unwrapping to eventstore.ErrInvalidEvent.
func (a *App) Append(ctx context.Context, stream string, events ...Draft) ([]eventstore.Event, error) {
	w := eventstore.Write{Stream: stream, Events: make([]eventstore.Event, len(events))}
	for i, d := range events {
		if d.err != nil {
			return nil, d.err
		}
		if d.event.Type == "" {
			return nil, errors.New("ferry: append: a zero Draft (make drafts with EventDef.New)")
		}
		w.Events[i] = d.event
	}
	return a.store.Append(ctx, w)
}
