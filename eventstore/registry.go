package eventstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Validator checks one JSON document (an event's Data or Meta). It returns
// nil when the document is valid. Return FieldError to name the offending
// field.
type Validator func(doc json.RawMessage) error

// EventType describes a registered event type.
type EventType struct {
	// Name is the event type, e.g. "task:created".
	Name string
	// Data validates the payload; nil accepts any JSON.
	Data Validator
	// Meta validates the metadata; nil accepts any JSON.
	Meta Validator
	// Commutative declares that every event of the type counts: additive
	// counters, set additions, log lines. Its events are never Outdated,
	// so every handler that keeps a read model sees all of them and
	// replicas that fold them in any order agree. Leave it false for
	// last-writer-wins facts (a title, a status), where Outdated tells the
	// read side which write lost.
	Commutative bool
}

// Registry holds the event types a store accepts. It is safe for concurrent
// use. A store configured with a Registry rejects events of unregistered
// types with ErrUnknownEventType; a store without one (such as a hub that
// relays events it does not interpret) accepts any type.
type Registry struct {
	mu       sync.RWMutex
	types    map[string]EventType
	upcaster Upcaster
}

// Upcaster lifts an event's payload to the current schema of its type
// (reducer.Upcasters is one). A Registry with an Upcaster validates events
// as upcast, so an event written with an older schema is checked against
// today's validators and one written with a newer schema than this app
// knows fails validation (and is kept Unknown by an edge store).
type Upcaster interface {
	Upcast(e Event) (Event, error)
}

// SetUpcaster makes Validate upcast events with u before validating them
// (nil: no upcasting).
func (r *Registry) SetUpcaster(u Upcaster) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.upcaster = u
}

// NewRegistry returns a registry holding types. It panics on an invalid or
// duplicate type, as a program-construction error; use Register to get an
// error instead.
func NewRegistry(types ...EventType) *Registry {
	r := &Registry{types: make(map[string]EventType)}
	if err := r.Register(types...); err != nil {
		panic(err)
	}
	return r
}

// Register adds event types. Names must be non-empty and not registered
// already.
func (r *Registry) Register(types ...EventType) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.types == nil {
		r.types = make(map[string]EventType)
	}
	for _, t := range types {
		if err := checkName("type", t.Name, MaxTypeLen); err != nil {
			return err
		}
		if _, dup := r.types[t.Name]; dup {
			return fmt.Errorf("eventstore: event type %q registered twice", t.Name)
		}
		r.types[t.Name] = t
	}
	return nil
}

// Lookup returns the registered type named name.
func (r *Registry) Lookup(name string) (EventType, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.types[name]
	return t, ok
}

// Types returns the registered type names, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate checks e's Data and Meta against its registered type. A nil
// Registry validates nothing beyond the envelope checks the store makes.
func (r *Registry) Validate(e Event) error {
	if r == nil {
		return nil
	}
	t, ok := r.Lookup(e.Type)
	if !ok {
		return &UnknownTypeError{Type: e.Type}
	}
	r.mu.RLock()
	u := r.upcaster
	r.mu.RUnlock()
	if u != nil {
		up, err := u.Upcast(e)
		if err != nil {
			return &ValidationError{EventID: e.ID, Type: e.Type, Field: "schema", Reason: err.Error()}
		}
		e = up
	}
	if err := runValidator(t.Data, "data", e.Data); err != nil {
		return annotate(err, e)
	}
	if err := runValidator(t.Meta, "meta", e.Meta); err != nil {
		return annotate(err, e)
	}
	return nil
}

func runValidator(v Validator, part string, doc json.RawMessage) error {
	if v == nil {
		return nil
	}
	err := v(doc)
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		out := *ve
		if out.Field == "" {
			out.Field = part
		} else {
			out.Field = part + "." + out.Field
		}
		return &out
	}
	return &ValidationError{Field: part, Reason: err.Error()}
}

func annotate(err error, e Event) error {
	var ve *ValidationError
	if errors.As(err, &ve) {
		out := *ve
		out.Type, out.EventID = e.Type, e.ID
		return &out
	}
	return err
}

// JSON returns a Validator that decodes the document into a T and then runs
// check on it (check may be nil). Decoding errors name the field that did not
// fit T; check should return FieldError for the fields it rejects.
func JSON[T any](check func(T) error) Validator {
	return func(doc json.RawMessage) error {
		var v T
		dec := json.NewDecoder(bytes.NewReader(doc))
		if err := dec.Decode(&v); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field != "" {
				return FieldError(te.Field, "want %s, got JSON %s", te.Type, te.Value)
			}
			return FieldError("", "%v", err)
		}
		if check == nil {
			return nil
		}
		return check(v)
	}
}

// Required returns a Validator that accepts a JSON object in which every
// named field is present and not null.
func Required(fields ...string) Validator {
	return func(doc json.RawMessage) error {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(doc, &obj); err != nil || obj == nil {
			return FieldError("", "want a JSON object")
		}
		for _, f := range fields {
			if v, ok := obj[f]; !ok || string(v) == "null" {
				return FieldError(f, "is required")
			}
		}
		return nil
	}
}

// Commutative reports whether name is registered as commutative (see
// EventType.Commutative). A nil Registry has no commutative types.
func (r *Registry) Commutative(name string) bool {
	if r == nil {
		return false
	}
	t, ok := r.Lookup(name)
	return ok && t.Commutative
}

// Digest returns a short fingerprint of the registered types (their names
// and whether they are commutative): two app builds with the same event
// vocabulary have the same digest. A client can send it as its app version
// (client.Config.App) when the app has no version string of its own.
func (r *Registry) Digest() string {
	h := sha256.New()
	for _, name := range r.Types() {
		t, _ := r.Lookup(name)
		fmt.Fprintf(h, "%s\x00%t\n", name, t.Commutative)
	}
	return "types-" + hex.EncodeToString(h.Sum(nil))[:12]
}
