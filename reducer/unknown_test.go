package reducer_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/reducer"
)

// An event written with a newer schema than this app version knows is kept
// Unknown by a store whose Registry upcasts with the app's Upcasters; once
// the app learns the schema (and how to lift older payloads to it), the
// store revives it, validating the upcast payload. A fold skips it while
// it is unknown, by default.
func TestNewerSchemaKeptThenRevived(t *testing.T) {
	ctx := context.Background()
	ups := reducer.NewUpcasters()
	require.NoError(t, ups.SetCurrent("note:added", 1)) // this app writes schema 1
	reg := eventstore.NewRegistry(eventstore.EventType{Name: "note:added", Data: eventstore.Required("text")})
	reg.SetUpcaster(ups)
	s := memory.New(eventstore.Config{Registry: reg})
	t.Cleanup(func() { _ = s.Close() })
	clock := eventstore.NewClock()
	v2 := eventstore.Event{ID: eventstore.NewID(), Stream: "n", Type: "note:added", Schema: 2, Created: clock.Now(), Origin: "newer",
		Data: []byte(`{"text":"a","lang":"en"}`)}
	res, err := s.Insert(ctx, v2)
	require.NoError(t, err)
	require.True(t, res[0].Event.Unknown, "schema 2 is newer than this app's")

	r := reducer.New("texts", func() []string { return nil })
	reducer.On(r, "note:added", func(s []string, _ eventstore.Event, d struct{ Text string }) []string { return append(s, d.Text) })
	got, err := reducer.ReduceStream(ctx, s, r, "n", reducer.ReadOptions{})
	require.NoError(t, err)
	assert.Empty(t, got.State)
	assert.EqualValues(t, 1, got.Version, "it still counts in the stream's version")

	require.NoError(t, ups.Register("note:added", 1, func(d json.RawMessage) (json.RawMessage, error) { return d, nil }))
	n, err := s.Revive(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	got, err = reducer.ReduceStream(ctx, s, r, "n", reducer.ReadOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, got.State)
}
