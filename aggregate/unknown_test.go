package aggregate_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/reducer"
)

// A command on a stream holding an event the store kept Unknown (written by
// a newer app version) proceeds by default, on the state this version
// understands, and its events append after the unknown one; with
// reducer.WithUnknownEvents(reducer.Reject) it fails with a
// *reducer.UnknownEventError instead and stores nothing.
func TestCommandOnStreamWithUnknownEvent(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			reg := eventstore.NewRegistry(
				eventstore.EventType{Name: "task:created"}, eventstore.EventType{Name: "task:renamed"},
				eventstore.EventType{Name: "task:noted"}, eventstore.EventType{Name: "task:completed"})
			s := b.open(t, eventstore.Config{Registry: reg})
			repo := aggregate.NewRepository(s, newTaskReducer())
			_, err := aggregate.Execute(ctx, repo, "t1", create, CreateInput{Title: "a"})
			require.NoError(t, err)
			res, err := s.Insert(ctx, eventstore.Event{ID: eventstore.NewID(), Stream: "t1", Type: "task:archived",
				Created: eventstore.NewClock().Now(), Origin: "newer-device", Data: []byte(`{}`)})
			require.NoError(t, err)
			require.True(t, res[0].Event.Unknown)

			tk, err := aggregate.Execute(ctx, repo, "t1", rename, RenameInput{Title: "b"})
			require.NoError(t, err, "the default proceeds")
			assert.Equal(t, "b", tk.Title)
			v, err := s.StreamVersion(ctx, "t1")
			require.NoError(t, err)
			assert.EqualValues(t, 3, v)

			strict := aggregate.NewRepository(s, newTaskReducer(reducer.WithUnknownEvents(reducer.Reject)))
			_, err = aggregate.Execute(ctx, strict, "t1", rename, RenameInput{Title: "c"})
			require.ErrorIs(t, err, reducer.ErrUnknownEvent)
			var ue *reducer.UnknownEventError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, "task:archived", ue.Type)
			v, err = s.StreamVersion(ctx, "t1")
			require.NoError(t, err)
			assert.EqualValues(t, 3, v, "nothing stored")
		})
	}
}
