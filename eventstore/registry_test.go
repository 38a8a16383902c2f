package eventstore_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type taskCreated struct {
	Title string   `json:"title"`
	Tags  []string `json:"tags"`
}

func newTaskRegistry(t *testing.T) *eventstore.Registry {
	t.Helper()
	return eventstore.NewRegistry(
		eventstore.EventType{Name: "task:created", Data: eventstore.JSON(func(d taskCreated) error {
			if strings.TrimSpace(d.Title) == "" {
				return eventstore.FieldError("title", "must not be empty")
			}
			return nil
		})},
		eventstore.EventType{Name: "task:completed", Meta: eventstore.Required("actor")},
	)
}

func event(typ, data, meta string) eventstore.Event {
	return eventstore.Event{ID: eventstore.NewID(), Stream: "t1", Type: typ, Data: json.RawMessage(data), Meta: json.RawMessage(meta)}
}

func TestRegistryValidate(t *testing.T) {
	r := newTaskRegistry(t)
	tests := []struct {
		name    string
		ev      eventstore.Event
		wantErr error
		field   string
	}{
		{"valid", event("task:created", `{"title":"x"}`, `{}`), nil, ""},
		{"unknown type", event("task:exploded", `{}`, `{}`), eventstore.ErrUnknownEventType, ""},
		{"empty title", event("task:created", `{"title":"  "}`, `{}`), eventstore.ErrInvalidEvent, "data.title"},
		{"wrong json type", event("task:created", `{"title":7}`, `{}`), eventstore.ErrInvalidEvent, "data.title"},
		{"wrong nested type", event("task:created", `{"title":"a","tags":[1]}`, `{}`), eventstore.ErrInvalidEvent, "data.tags"},
		{"not an object", event("task:created", `[1]`, `{}`), eventstore.ErrInvalidEvent, "data"},
		{"meta required field", event("task:completed", `{}`, `{"device":"d"}`), eventstore.ErrInvalidEvent, "meta.actor"},
		{"meta null field", event("task:completed", `{}`, `{"actor":null}`), eventstore.ErrInvalidEvent, "meta.actor"},
		{"meta ok", event("task:completed", `{}`, `{"actor":"ann"}`), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Validate(tt.ev)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			if tt.field != "" {
				var ve *eventstore.ValidationError
				require.True(t, errors.As(err, &ve), "%v", err)
				assert.True(t, strings.HasPrefix(ve.Field, tt.field), "field %q, want prefix %q", ve.Field, tt.field)
				assert.Equal(t, tt.ev.Type, ve.Type)
				assert.Equal(t, tt.ev.ID, ve.EventID)
				assert.Contains(t, err.Error(), tt.field)
			}
		})
	}
}

func TestRegistryRegisterErrors(t *testing.T) {
	r := &eventstore.Registry{}
	require.NoError(t, r.Register(eventstore.EventType{Name: "a"}))
	assert.Error(t, r.Register(eventstore.EventType{Name: "a"}), "duplicate")
	assert.Error(t, r.Register(eventstore.EventType{Name: ""}), "empty")
	assert.Error(t, r.Register(eventstore.EventType{Name: strings.Repeat("x", eventstore.MaxTypeLen+1)}))
	assert.Equal(t, []string{"a"}, r.Types())
	assert.Panics(t, func() { eventstore.NewRegistry(eventstore.EventType{Name: "b"}, eventstore.EventType{Name: "b"}) })

	var nilReg *eventstore.Registry
	assert.NoError(t, nilReg.Validate(event("anything", `{}`, `{}`)), "a nil registry accepts any type")
}

func TestValidatorPlainErrorIsWrapped(t *testing.T) {
	r := eventstore.NewRegistry(eventstore.EventType{Name: "x", Data: func(json.RawMessage) error { return errors.New("nope") }})
	err := r.Validate(event("x", `{}`, `{}`))
	require.ErrorIs(t, err, eventstore.ErrInvalidEvent)
	assert.Contains(t, err.Error(), "nope")
}

func TestValidateEnvelope(t *testing.T) {
	good := eventstore.Event{ID: eventstore.NewID(), Stream: "s", Type: "t", Schema: 1, Data: []byte(`{}`), Meta: []byte(`{}`), Created: 1, Origin: "o"}
	require.NoError(t, eventstore.ValidateEnvelope(good))
	tests := []struct {
		field string
		mut   func(*eventstore.Event)
	}{
		{"id", func(e *eventstore.Event) { e.ID = "bad" }},
		{"stream", func(e *eventstore.Event) { e.Stream = "" }},
		{"stream", func(e *eventstore.Event) { e.Stream = strings.Repeat("s", eventstore.MaxStreamLen+1) }},
		{"stream", func(e *eventstore.Event) { e.Stream = "\xff" }},
		{"type", func(e *eventstore.Event) { e.Type = "" }},
		{"origin", func(e *eventstore.Event) { e.Origin = "" }},
		{"created", func(e *eventstore.Event) { e.Created = 0 }},
		{"schema", func(e *eventstore.Event) { e.Schema = 0 }},
		{"data", func(e *eventstore.Event) { e.Data = []byte(`{`) }},
		{"meta", func(e *eventstore.Event) { e.Meta = []byte(`nope`) }},
		{"data", func(e *eventstore.Event) { e.Data = []byte("\"\xff\"") }},
		{"data", func(e *eventstore.Event) { e.Data = []byte(`"` + strings.Repeat("a", eventstore.MaxEventBytes) + `"`) }},
	}
	for _, tt := range tests {
		e := good
		tt.mut(&e)
		err := eventstore.ValidateEnvelope(e)
		require.ErrorIs(t, err, eventstore.ErrInvalidEvent, tt.field)
		var ve *eventstore.ValidationError
		require.True(t, errors.As(err, &ve))
		assert.Equal(t, tt.field, ve.Field)
	}
}

func TestExpectedVersionCheck(t *testing.T) {
	tests := []struct {
		exp    eventstore.ExpectedVersion
		actual int64
		ok     bool
		str    string
	}{
		{eventstore.Any, 0, true, "any"},
		{eventstore.Any, 9, true, "any"},
		{eventstore.NoStream, 0, true, "no-stream"},
		{eventstore.NoStream, 1, false, "no-stream"},
		{eventstore.StreamExists, 0, false, "stream-exists"},
		{eventstore.StreamExists, 3, true, "stream-exists"},
		{eventstore.Exact(3), 3, true, "exact(3)"},
		{eventstore.Exact(3), 4, false, "exact(3)"},
		{eventstore.Exact(0), 0, true, "no-stream"},
	}
	for _, tt := range tests {
		err := tt.exp.Check("s", tt.actual)
		assert.Equal(t, tt.str, tt.exp.String())
		lo, hi := tt.exp.Bounds()
		assert.Equal(t, tt.ok, lo <= tt.actual && tt.actual <= hi, "Bounds agrees with Check")
		if tt.ok {
			assert.NoError(t, err)
			continue
		}
		require.ErrorIs(t, err, eventstore.ErrConcurrency)
		var ce *eventstore.ConflictError
		require.True(t, errors.As(err, &ce))
		assert.Equal(t, "s", ce.Stream)
		assert.Equal(t, tt.exp, ce.Expected)
		assert.Equal(t, tt.actual, ce.Actual)
	}
	var zero eventstore.ExpectedVersion
	assert.Equal(t, eventstore.Any, zero, "the zero value is Any")
}

// The digest names the vocabulary: equal for equal registries, different
// when a type is added or declared commutative.
func TestRegistryDigest(t *testing.T) {
	a := eventstore.NewRegistry(eventstore.EventType{Name: "x"}, eventstore.EventType{Name: "y"})
	b := eventstore.NewRegistry(eventstore.EventType{Name: "y"}, eventstore.EventType{Name: "x"})
	assert.Equal(t, a.Digest(), b.Digest())
	c := eventstore.NewRegistry(eventstore.EventType{Name: "x"}, eventstore.EventType{Name: "y", Commutative: true})
	assert.NotEqual(t, a.Digest(), c.Digest())
	require.NoError(t, b.Register(eventstore.EventType{Name: "z"}))
	assert.NotEqual(t, a.Digest(), b.Digest())
}
