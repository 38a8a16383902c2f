package eventstore_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

func digestEvent(i int) eventstore.Event {
	return eventstore.Event{ID: eventstore.NewID(), Stream: fmt.Sprintf("s/%d", i%5), Type: "note:added",
		Data: []byte(fmt.Sprintf(`{"n":%d}`, i)), Created: eventstore.Timestamp(uint64(i+1) << 16), Origin: "dev"}
}

func TestDigestOrderIndependentAndSplittable(t *testing.T) {
	events := make([]eventstore.Event, 100)
	for i := range events {
		events[i] = digestEvent(i)
	}
	var all, prefix eventstore.Digest
	for i, e := range events {
		all.Add(e, int64(i+1))
		if i < 40 {
			prefix.Add(e, int64(i+1))
		}
	}
	var shuffled eventstore.Digest
	for _, i := range rand.Perm(len(events)) {
		shuffled.Add(events[i], int64(i+1))
	}
	assert.Equal(t, all, shuffled, "order does not matter")
	assert.EqualValues(t, 100, all.Count)

	var rest eventstore.Digest
	for i, e := range events[40:] {
		rest.Add(e, int64(40+i+1))
	}
	assert.Equal(t, rest, all.Minus(prefix), "a range is the difference of two prefixes")
	merged := prefix
	merged.Merge(rest)
	assert.Equal(t, all, merged)

	parsed, err := eventstore.ParseDigest(all.String())
	require.NoError(t, err)
	assert.Equal(t, all, parsed)
}

func TestDigestSeesEveryDifference(t *testing.T) {
	base := digestEvent(1)
	var want eventstore.Digest
	want.Add(base, 7)
	variants := map[string]func(e *eventstore.Event, hub *int64){
		"data":     func(e *eventstore.Event, _ *int64) { e.Data = []byte(`{"n":2}`) },
		"meta":     func(e *eventstore.Event, _ *int64) { e.Meta = []byte(`{"a":1}`) },
		"stream":   func(e *eventstore.Event, _ *int64) { e.Stream = "s/9" },
		"type":     func(e *eventstore.Event, _ *int64) { e.Type = "note:removed" },
		"schema":   func(e *eventstore.Event, _ *int64) { e.Schema = 2 },
		"created":  func(e *eventstore.Event, _ *int64) { e.Created++ },
		"origin":   func(e *eventstore.Event, _ *int64) { e.Origin = "other" },
		"id":       func(e *eventstore.Event, _ *int64) { e.ID = eventstore.NewID() },
		"position": func(_ *eventstore.Event, hub *int64) { *hub = 8 },
		// Field boundaries are length-prefixed: moving bytes between
		// fields changes the digest.
		"boundary": func(e *eventstore.Event, _ *int64) { e.Stream, e.Type = "s/1n", "ote:added" },
	}
	for name, change := range variants {
		e, hub := base, int64(7)
		change(&e, &hub)
		var got eventstore.Digest
		got.Add(e, hub)
		assert.NotEqual(t, want, got, name)
	}
	same, hub := base, int64(7)
	same.Schema, same.Meta = 1, []byte(`{}`) // the store defaults
	var got eventstore.Digest
	got.Add(same, hub)
	assert.Equal(t, want, got, "defaults applied before hashing")
}

func TestParseDigestRejectsGarbage(t *testing.T) {
	for _, s := range []string{"", "x", "1-abc", "-00000000000000000000000000000000", "1-0000000000000000000000000000000g", "1_00000000000000000000000000000000"} {
		_, err := eventstore.ParseDigest(s)
		assert.Error(t, err, "%q", s)
	}
}

func BenchmarkDigestAdd(b *testing.B) {
	e := digestEvent(1)
	e.Data = make([]byte, 200)
	for i := range e.Data {
		e.Data[i] = 'a'
	}
	var d eventstore.Digest
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d.Add(e, int64(i))
	}
}
