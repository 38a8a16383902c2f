package reducer

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/ferrysync/ferry/eventstore"
)

// Upcaster lifts an event payload written with schema version v to version
// v+1. It must not modify data in place; return a new document.
type Upcaster func(data json.RawMessage) (json.RawMessage, error)

// Upcasters is the registry of event schema versions: for each event type,
// its current version and the upcasters that lift older payloads to it. It
// is safe for concurrent use; register everything at program start.
//
// Types the registry does not know are left as they are, whatever their
// Schema: only types with a registered upcaster or a declared current
// version are checked. The zero value is not usable; call NewUpcasters.
type Upcasters struct {
	mu    sync.RWMutex
	types map[string]*schemaPath
}

type schemaPath struct {
	current int
	steps   map[int]Upcaster
}

// NewUpcasters returns an empty registry.
func NewUpcasters() *Upcasters {
	return &Upcasters{types: make(map[string]*schemaPath)}
}

func (u *Upcasters) path(typ string) *schemaPath {
	p := u.types[typ]
	if p == nil {
		p = &schemaPath{current: 1, steps: make(map[int]Upcaster)}
		u.types[typ] = p
	}
	return p
}

// Register adds the upcaster that lifts typ's payload from version from to
// from+1. The current version of typ becomes at least from+1. Registering
// the same step twice is an error.
func (u *Upcasters) Register(typ string, from int, fn Upcaster) error {
	switch {
	case typ == "":
		return fmt.Errorf("reducer: register upcaster: empty event type")
	case from < 1:
		return fmt.Errorf("reducer: register upcaster for %q: from version %d is below 1", typ, from)
	case fn == nil:
		return fmt.Errorf("reducer: register upcaster for %q v%d: nil function", typ, from)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.path(typ)
	if _, dup := p.steps[from]; dup {
		return fmt.Errorf("reducer: upcaster for %q from version %d registered twice", typ, from)
	}
	p.steps[from] = fn
	p.current = max(p.current, from+1)
	return nil
}

// SetCurrent declares the current version of typ, for a type whose older
// versions are not supported at all (no upcasters) or whose newest version
// has no upcaster into it yet. The current version is the larger of v and
// the highest version the registered upcasters reach.
func (u *Upcasters) SetCurrent(typ string, v int) error {
	if typ == "" || v < 1 {
		return fmt.Errorf("reducer: set current version of %q to %d: invalid", typ, v)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.path(typ)
	p.current = max(p.current, v)
	return nil
}

// Current returns the current schema version of typ: 1 for a type the
// registry does not know. Code that creates events stamps this version on
// them (the aggregate package does).
func (u *Upcasters) Current(typ string) int {
	if u == nil {
		return 1
	}
	u.mu.RLock()
	defer u.mu.RUnlock()
	if p := u.types[typ]; p != nil {
		return p.current
	}
	return 1
}

// Upcast returns e with its Data lifted to the current version of its type
// and Schema set to that version. An event already current, or of a type the
// registry does not know, is returned unchanged. A nil registry upcasts
// nothing. When no path leads from e's version to the current one, Upcast
// returns a *SchemaError naming the type and version.
func (u *Upcasters) Upcast(e eventstore.Event) (eventstore.Event, error) {
	if u == nil {
		return e, nil
	}
	u.mu.RLock()
	p := u.types[e.Type]
	if p == nil {
		u.mu.RUnlock()
		return e, nil
	}
	current := p.current
	v := max(e.Schema, 1)
	if v == current {
		u.mu.RUnlock()
		return e, nil
	}
	if v > current {
		u.mu.RUnlock()
		return e, &SchemaError{Type: e.Type, Version: v, Current: current, EventID: e.ID,
			Reason: "written by a newer version of the application"}
	}
	steps := make([]Upcaster, 0, current-v)
	for s := v; s < current; s++ {
		fn, ok := p.steps[s]
		if !ok {
			u.mu.RUnlock()
			return e, &SchemaError{Type: e.Type, Version: v, Current: current, EventID: e.ID,
				Reason: fmt.Sprintf("no upcaster registered from version %d", s)}
		}
		steps = append(steps, fn)
	}
	u.mu.RUnlock()

	data := e.Data
	for i, fn := range steps {
		out, err := fn(data)
		if err != nil {
			return e, &SchemaError{Type: e.Type, Version: v, Current: current, EventID: e.ID,
				Reason: fmt.Sprintf("upcaster from version %d failed", v+i), Err: err}
		}
		data = out
	}
	e.Data, e.Schema = data, current
	return e, nil
}

// Decode upcasts e with u (which may be nil) and decodes its payload into a
// D. Projectors and other readers outside a reducer use it to see events the
// way reducer handlers do.
func Decode[D any](u *Upcasters, e eventstore.Event) (D, error) {
	var d D
	e, err := u.Upcast(e)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return d, &DecodeError{Type: e.Type, EventID: e.ID, Err: err}
	}
	return d, nil
}
