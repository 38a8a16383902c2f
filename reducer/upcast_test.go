package reducer_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/reducer"
)

// TaskCreatedV3 is task:created at schema version 3.
//
//	v1: {"name": "..."}
//	v2: {"title": "..."}                 (field renamed)
//	v3: {"title": "...", "priority": n}  (field added, default 3)
type TaskCreatedV3 struct {
	Title    string `json:"title"`
	Priority int    `json:"priority"`
}

func createdUpcasters(t *testing.T) *reducer.Upcasters {
	u := reducer.NewUpcasters()
	require.NoError(t, u.Register("task:created", 1, func(data json.RawMessage) (json.RawMessage, error) {
		var v1 struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(data, &v1); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"title": v1.Name})
	}))
	require.NoError(t, u.Register("task:created", 2, func(data json.RawMessage) (json.RawMessage, error) {
		var v2 map[string]any
		if err := json.Unmarshal(data, &v2); err != nil {
			return nil, err
		}
		if strings.Contains(v2["title"].(string), "poison") {
			return nil, errors.New("poisoned payload")
		}
		v2["priority"] = 3
		return json.Marshal(v2)
	}))
	return u
}

func versioned(schema int, data string) eventstore.Event {
	return eventstore.Event{ID: eventstore.NewID(), Type: "task:created", Schema: schema, Data: json.RawMessage(data)}
}

func TestUpcastTable(t *testing.T) {
	tests := []struct {
		name      string
		event     eventstore.Event
		want      TaskCreatedV3
		wantErr   error
		errSubstr string
	}{
		{name: "v1 through two steps", event: versioned(1, `{"name":"old"}`), want: TaskCreatedV3{Title: "old", Priority: 3}},
		{name: "schema 0 counts as v1", event: versioned(0, `{"name":"older"}`), want: TaskCreatedV3{Title: "older", Priority: 3}},
		{name: "v2 one step", event: versioned(2, `{"title":"mid"}`), want: TaskCreatedV3{Title: "mid", Priority: 3}},
		{name: "v3 is current", event: versioned(3, `{"title":"new","priority":1}`), want: TaskCreatedV3{Title: "new", Priority: 1}},
		{name: "v4 is from the future", event: versioned(4, `{}`), wantErr: reducer.ErrSchemaVersion,
			errSubstr: `"task:created" schema version 4`},
		{name: "upcaster failure", event: versioned(2, `{"title":"poison"}`), wantErr: reducer.ErrSchemaVersion,
			errSubstr: "poisoned payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := createdUpcasters(t)
			got, err := reducer.Decode[TaskCreatedV3](u, tt.event)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Contains(t, err.Error(), tt.errSubstr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)

			up, err := u.Upcast(tt.event)
			require.NoError(t, err)
			assert.Equal(t, 3, up.Schema)
		})
	}
}

func TestUpcastMissingStepNamesTypeAndVersion(t *testing.T) {
	u := reducer.NewUpcasters()
	// only 2 -> 3 is known: a v1 event has no path
	require.NoError(t, u.Register("task:created", 2, func(d json.RawMessage) (json.RawMessage, error) { return d, nil }))
	_, err := u.Upcast(versioned(1, `{}`))
	var se *reducer.SchemaError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "task:created", se.Type)
	assert.Equal(t, 1, se.Version)
	assert.Equal(t, 3, se.Current)
	assert.Contains(t, err.Error(), "no upcaster registered from version 1")
}

func TestUpcastSetCurrentWithoutUpcasters(t *testing.T) {
	u := reducer.NewUpcasters()
	require.NoError(t, u.SetCurrent("task:created", 2))
	assert.Equal(t, 2, u.Current("task:created"))
	_, err := u.Upcast(versioned(1, `{}`))
	require.ErrorIs(t, err, reducer.ErrSchemaVersion)
	e, err := u.Upcast(versioned(2, `{"title":"x"}`))
	require.NoError(t, err)
	assert.JSONEq(t, `{"title":"x"}`, string(e.Data))
}

func TestUpcastUnknownTypePassesThrough(t *testing.T) {
	u := createdUpcasters(t)
	e := eventstore.Event{Type: "task:renamed", Schema: 5, Data: json.RawMessage(`{"title":"x"}`)}
	got, err := u.Upcast(e)
	require.NoError(t, err)
	assert.Equal(t, e, got)
	assert.Equal(t, 1, u.Current("task:renamed"))

	var nilRegistry *reducer.Upcasters
	got, err = nilRegistry.Upcast(e)
	require.NoError(t, err)
	assert.Equal(t, e, got)
}

func TestUpcastRegisterMistakes(t *testing.T) {
	u := reducer.NewUpcasters()
	id := func(d json.RawMessage) (json.RawMessage, error) { return d, nil }
	require.NoError(t, u.Register("a", 1, id))
	assert.Error(t, u.Register("a", 1, id), "duplicate step")
	assert.Error(t, u.Register("a", 0, id), "version below 1")
	assert.Error(t, u.Register("", 1, id), "empty type")
	assert.Error(t, u.Register("a", 2, nil), "nil function")
	assert.Error(t, u.SetCurrent("a", 0))
}

func TestReducerUpcastsBeforeHandlers(t *testing.T) {
	u := createdUpcasters(t)
	type state struct {
		Title    string
		Priority int
	}
	r := reducer.New("task", func() state { return state{} }, reducer.WithUpcasters(u))
	reducer.On(r, "task:created", func(s state, e eventstore.Event, d TaskCreatedV3) state {
		if e.Schema != 3 {
			panic("handler saw an old schema")
		}
		return state{Title: d.Title, Priority: d.Priority}
	})

	tests := []struct {
		name  string
		event eventstore.Event
		want  state
	}{
		{"v1", versioned(1, `{"name":"a"}`), state{"a", 3}},
		{"v2", versioned(2, `{"title":"b"}`), state{"b", 3}},
		{"v3", versioned(3, `{"title":"c","priority":9}`), state{"c", 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Reduce(seq(tt.event))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	_, err := r.Reduce(seq(versioned(7, `{}`)))
	require.ErrorIs(t, err, reducer.ErrSchemaVersion)
}
