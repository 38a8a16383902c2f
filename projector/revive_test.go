package projector_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/projector"
)

// seen records what On handlers saw: event id -> hydrated, per call.
type seen struct {
	mu  sync.Mutex
	ids map[string][]bool
}

func (s *seen) handler(_ context.Context, _ eventstore.Tx, e eventstore.Event, _ json.RawMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[e.ID] = append(s.ids[e.ID], e.Hydrated)
	return nil
}

// An event the store kept Unknown is skipped by the projector (OnUnknown
// sees it); once the store revives it, the projector replays it to its
// handlers, hydrated, exactly once, whether the projector had passed it or
// is built afterwards.
func TestProjectorReplaysRevived(t *testing.T) {
	ctx := context.Background()
	reg := eventstore.NewRegistry(eventstore.EventType{Name: "note:added"})
	s := memory.New(eventstore.Config{Registry: reg})
	t.Cleanup(func() { _ = s.Close() })
	clock := eventstore.NewClock()
	remote := func(typ string) eventstore.Event {
		return eventstore.Event{ID: eventstore.NewID(), Stream: "n1", Type: typ, Created: clock.Now(), Origin: "newer", Data: []byte(`{}`)}
	}
	evs := []eventstore.Event{remote("note:added"), remote("note:tagged"), remote("note:added")}
	_, err := s.Insert(ctx, evs...)
	require.NoError(t, err)

	newProj := func(name string, log *seen, unknown *[]string) *projector.Projector {
		h := projector.NewHandlers()
		projector.On(h, "note:added", log.handler)
		projector.On(h, "note:tagged", log.handler)
		p, err := projector.New(name, s, projector.Options{Handlers: h, OnUnknown: func(_ context.Context, _ eventstore.Tx, e eventstore.Event) error {
			*unknown = append(*unknown, e.ID)
			return nil
		}})
		require.NoError(t, err)
		return p
	}
	old := &seen{ids: map[string][]bool{}}
	var unknown []string
	p := newProj("notes", old, &unknown)
	_, err = p.CatchUp(ctx)
	require.NoError(t, err)
	assert.Len(t, old.ids, 2)
	assert.NotContains(t, old.ids, evs[1].ID)
	assert.Equal(t, []string{evs[1].ID}, unknown)

	// The upgrade: the registry learns the type; the store revives it.
	require.NoError(t, reg.Register(eventstore.EventType{Name: "note:tagged"}))
	n, err := s.Revive(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = p.CatchUp(ctx)
	require.NoError(t, err)
	assert.Equal(t, []bool{true}, old.ids[evs[1].ID], "replayed once, hydrated")
	_, err = p.CatchUp(ctx)
	require.NoError(t, err)
	assert.Equal(t, []bool{true}, old.ids[evs[1].ID], "not again")

	fresh := &seen{ids: map[string][]bool{}}
	var none []string
	_, err = newProj("notes-v2", fresh, &none).CatchUp(ctx)
	require.NoError(t, err)
	assert.Len(t, fresh.ids, 3)
	for _, e := range evs {
		assert.Len(t, fresh.ids[e.ID], 1, "a projector built after the revival sees each event once")
	}
	assert.Empty(t, none)
}
