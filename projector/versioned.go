package projector

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/ferrysync/ferry/eventstore"
)

// VersionedOptions configures a Versioned read model.
type VersionedOptions struct {
	// Options returns the projector options of version v. Its handlers
	// write version v's data (tables or keys named after v), so that two
	// versions can exist side by side.
	Options func(v int) Options
	// Reset clears version v's data inside tx. Rebuild calls it before
	// building v (to drop the leftovers of an interrupted build) and Drop
	// calls it to delete an old version. Nil: nothing to clear.
	Reset func(ctx context.Context, tx eventstore.Tx, v int) error
	// Switch, when set, runs inside the transaction that makes version to
	// the active one (for example to repoint a SQL view).
	Switch func(ctx context.Context, tx eventstore.Tx, from, to int) error
}

// Versioned is a read model with numbered versions, each projected by its
// own Projector named "<name>@v<n>". One version is active (stored in the
// key/value state; 1 at first). Rebuild builds the next version from the
// whole ledger while the active one keeps serving and following, then
// switches to it.
type Versioned struct {
	name  string
	store Store
	opts  VersionedOptions

	mu       sync.Mutex
	switched chan struct{} // closed when the active version changes
}

// NewVersioned returns the versioned read model name over store.
func NewVersioned(name string, store Store, opts VersionedOptions) (*Versioned, error) {
	if name == "" || store == nil || opts.Options == nil {
		return nil, errors.New("projector: versioned read model needs a name, a store and Options")
	}
	return &Versioned{name: name, store: store, opts: opts, switched: make(chan struct{})}, nil
}

// VersionName returns the projector (checkpoint) name of version v.
func (vr *Versioned) VersionName(v int) string { return fmt.Sprintf("%s@v%d", vr.name, v) }

// Active returns the active version.
func (vr *Versioned) Active(ctx context.Context) (int, error) {
	val, err := vr.store.State(ctx, activeKey(vr.name))
	if errors.Is(err, eventstore.ErrNotFound) {
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("projector %s: active version: %w", vr.name, err)
	}
	v, err := strconv.Atoi(string(val))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("projector %s: bad active version %q", vr.name, val)
	}
	return v, nil
}

// Projector returns the projector of version v.
func (vr *Versioned) Projector(v int) (*Projector, error) {
	return New(vr.VersionName(v), vr.store, vr.opts.Options(v))
}

// Run runs the active version's projector until ctx is done (returning
// nil) or it fails; when Rebuild switches versions, Run moves on to the new
// one.
func (vr *Versioned) Run(ctx context.Context) error {
	for {
		vr.mu.Lock()
		switched := vr.switched
		vr.mu.Unlock()
		v, err := vr.Active(ctx)
		if err != nil {
			return err
		}
		p, err := vr.Projector(v)
		if err != nil {
			return err
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Run(runCtx) }()
		select {
		case err = <-done:
			cancel()
			return err
		case <-switched:
			cancel()
			if err := <-done; err != nil {
				return err
			}
		}
	}
}

// Rebuild builds version active+1 from the whole ledger (Hydrated forced
// true, so no Once handler runs) while the active version keeps serving,
// then makes it active and returns it. The old version's data stays until
// Drop.
func (vr *Versioned) Rebuild(ctx context.Context) (int, error) {
	from, err := vr.Active(ctx)
	if err != nil {
		return 0, err
	}
	to := from + 1
	p, err := vr.Projector(to)
	if err != nil {
		return 0, err
	}
	var reset ResetFunc
	if vr.opts.Reset != nil {
		reset = func(ctx context.Context, tx eventstore.Tx) error { return vr.opts.Reset(ctx, tx, to) }
	}
	if _, err := p.Rebuild(ctx, reset); err != nil {
		return 0, err
	}
	err = vr.store.Update(ctx, func(tx eventstore.Tx) error {
		val, err := eventstore.KeyValuesOf(tx).State(ctx, activeKey(vr.name))
		cur := "1"
		if err == nil {
			cur = string(val)
		} else if !errors.Is(err, eventstore.ErrNotFound) {
			return err
		}
		if cur != strconv.Itoa(from) {
			return fmt.Errorf("active version changed to %s meanwhile", cur)
		}
		if vr.opts.Switch != nil {
			if err := vr.opts.Switch(ctx, tx, from, to); err != nil {
				return err
			}
		}
		return eventstore.KeyValuesOf(tx).SetState(ctx, activeKey(vr.name), []byte(strconv.Itoa(to)))
	})
	if err != nil {
		return 0, fmt.Errorf("projector %s: switch to v%d: %w", vr.name, to, err)
	}
	vr.mu.Lock()
	close(vr.switched)
	vr.switched = make(chan struct{})
	vr.mu.Unlock()
	return to, nil
}

// Drop deletes the data and checkpoint of version v, which must not be the
// active one (stop using it first).
func (vr *Versioned) Drop(ctx context.Context, v int) error {
	active, err := vr.Active(ctx)
	if err != nil {
		return err
	}
	if v == active {
		return fmt.Errorf("projector %s: cannot drop the active version %d", vr.name, v)
	}
	return vr.store.Update(ctx, func(tx eventstore.Tx) error {
		if vr.opts.Reset != nil {
			if err := vr.opts.Reset(ctx, tx, v); err != nil {
				return err
			}
		}
		return eventstore.CheckpointsOf(tx).SetCheckpoint(ctx, vr.VersionName(v), 0)
	})
}
