package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

var hostileChecks = []check{
	{"RefusedAlike", testHostileEnvelope},
}

// hostile returns events whose envelope no backend may store, each named
// by the field it breaks: every backend refuses the same ones, so an event
// an edge store accepted is never one the hub must refuse.
func hostile() map[string]eventstore.Event {
	ok := func(mod func(e *eventstore.Event)) eventstore.Event {
		e := remote("s", TypeNote, base())
		mod(&e)
		return e
	}
	return map[string]eventstore.Event{
		"stream":  ok(func(e *eventstore.Event) { e.Stream = "a\x00b" }),
		"type":    ok(func(e *eventstore.Event) { e.Type = "test:\x00note" }),
		"origin":  ok(func(e *eventstore.Event) { e.Origin = "dev\x00" }),
		"stream ": ok(func(e *eventstore.Event) { e.Stream = "bad\xff\xfe" }),
		"origin ": ok(func(e *eventstore.Event) { e.Origin = string([]byte{0xc3, 0x28}) }),
		"data":    ok(func(e *eventstore.Event) { e.Data = []byte("{\"a\":\"\xff\"}") }),
		"meta":    ok(func(e *eventstore.Event) { e.Meta = []byte(`{"a":`) }),
		"id":      ok(func(e *eventstore.Event) { e.ID = "not-a-ulid\x00" }),
	}
}

// testHostileEnvelope feeds every backend the same hostile values through
// Insert and Append: each is an *eventstore.ValidationError naming the
// field, nothing is stored, and a good event after it is stored as usual.
func testHostileEnvelope(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	for name, e := range hostile() {
		field := name
		if field[len(field)-1] == ' ' {
			field = field[:len(field)-1]
		}
		t.Run(name, func(t *testing.T) {
			_, err := s.Insert(ctx, e)
			require.ErrorIs(t, err, eventstore.ErrInvalidEvent, "insert")
			var ve *eventstore.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, field, ve.Field)
			// Append keeps a caller's ID and Origin, so it meets them all.
			_, err = s.Append(ctx, eventstore.Write{Stream: e.Stream, Events: []eventstore.Event{e}})
			require.ErrorAs(t, err, &ve, "append")
			assert.Equal(t, field, ve.Field, "append")
		})
	}
	assert.Zero(t, head(t, s), "nothing stored")
	insert(t, s, remote("s", TypeNote, base()))
	assert.Equal(t, int64(1), head(t, s), "a good event after them is stored")
}
