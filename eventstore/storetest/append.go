package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil"
)

var appendChecks = []check{
	{"ExpectedVersion", testExpectedVersion},
	{"RaceExactlyOneWins", testAppendRace},
	{"MultiStreamAtomic", testMultiStream},
	{"BadEventCommitsNothing", testBadBatch},
	{"OnAppendHook", testOnAppend},
}

func testExpectedVersion(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	write := func(stream string, exp eventstore.ExpectedVersion, n int) error {
		evs := make([]eventstore.Event, n)
		for i := range evs {
			evs[i] = local(TypeNote, i)
		}
		_, err := s.Append(ctx, eventstore.Write{Stream: stream, Expect: exp, Events: evs})
		return err
	}
	conflict := func(err error, stream string, exp eventstore.ExpectedVersion, actual int64) {
		t.Helper()
		require.Error(t, err)
		assert.ErrorIs(t, err, eventstore.ErrConcurrency)
		var ce *eventstore.ConflictError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, stream, ce.Stream)
		assert.Equal(t, exp, ce.Expected)
		assert.Equal(t, actual, ce.Actual)
	}

	// StreamExists on a new stream fails; NoStream succeeds once.
	conflict(write("s", eventstore.StreamExists, 1), "s", eventstore.StreamExists, 0)
	conflict(write("s", eventstore.Exact(2), 1), "s", eventstore.Exact(2), 0)
	require.NoError(t, write("s", eventstore.NoStream, 2))
	conflict(write("s", eventstore.NoStream, 1), "s", eventstore.NoStream, 2)
	require.NoError(t, write("s", eventstore.StreamExists, 1))
	assert.Equal(t, int64(3), version(t, s, "s"))
	// Exact(n).
	conflict(write("s", eventstore.Exact(2), 1), "s", eventstore.Exact(2), 3)
	conflict(write("s", eventstore.Exact(4), 1), "s", eventstore.Exact(4), 3)
	require.NoError(t, write("s", eventstore.Exact(3), 2))
	assert.Equal(t, int64(5), version(t, s, "s"))
	// Any always works, on new and existing streams.
	require.NoError(t, write("s", eventstore.Any, 1))
	require.NoError(t, write("t", eventstore.Any, 1))
	// Exact(0) is NoStream.
	require.NoError(t, write("u", eventstore.Exact(0), 1))
	conflict(write("u", eventstore.Exact(0), 1), "u", eventstore.NoStream, 1)
	assert.Equal(t, int64(6), version(t, s, "s"))
	assert.Equal(t, int64(1), version(t, s, "t"))
	assert.Equal(t, int64(8), head(t, s), "failed appends store nothing")

	// Two writes to one stream in one call: the second is checked against
	// the version after the first.
	_, err := s.Append(ctx,
		eventstore.Write{Stream: "v", Expect: eventstore.NoStream, Events: []eventstore.Event{local(TypeNote, 1)}},
		eventstore.Write{Stream: "v", Expect: eventstore.Exact(1), Events: []eventstore.Event{local(TypeNote, 2)}})
	require.NoError(t, err)
	assert.Equal(t, int64(2), version(t, s, "v"))
}

func testAppendRace(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := guard(t)
	const rounds = 10
	for round := range rounds {
		stream := fmt.Sprintf("race-%d", round)
		exp := eventstore.NoStream
		if round%2 == 1 { // odd rounds race on an existing stream
			appendTo(t, s, stream, local(TypeNote, 0))
			exp = eventstore.Exact(1)
		}
		start := make(chan struct{})
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				<-start
				_, errs[i] = s.Append(ctx, eventstore.Write{Stream: stream, Expect: exp,
					Events: []eventstore.Event{local(TypeNote, i), local(TypeNote, i)}})
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
				continue
			}
			assert.ErrorIs(t, err, eventstore.ErrConcurrency, "round %d", round)
		}
		assert.Equal(t, 1, wins, "round %d: exactly one appender wins", round)
		want := int64(2)
		if round%2 == 1 {
			want = 3
		}
		assert.Equal(t, want, version(t, s, stream), "round %d", round)
	}
}

func testMultiStream(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	appendTo(t, s, "b", local(TypeNote, 0))
	// The conflict is on the last write: nothing of the earlier ones stays.
	_, err := s.Append(ctx,
		eventstore.Write{Stream: "a", Expect: eventstore.NoStream, Events: []eventstore.Event{local(TypeNote, 1), local(TypeNote, 2)}},
		eventstore.Write{Stream: "c", Expect: eventstore.Any, Events: []eventstore.Event{local(TypeNote, 3)}},
		eventstore.Write{Stream: "b", Expect: eventstore.NoStream, Events: []eventstore.Event{local(TypeNote, 4)}})
	require.ErrorIs(t, err, eventstore.ErrConcurrency)
	var ce *eventstore.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "b", ce.Stream)
	assert.Zero(t, version(t, s, "a"))
	assert.Zero(t, version(t, s, "c"))
	assert.Equal(t, int64(1), version(t, s, "b"))
	assert.Equal(t, int64(1), head(t, s))

	out, err := s.Append(ctx,
		eventstore.Write{Stream: "a", Expect: eventstore.NoStream, Events: []eventstore.Event{local(TypeNote, 1), local(TypeNote, 2)}},
		eventstore.Write{Stream: "b", Expect: eventstore.Exact(1), Events: []eventstore.Event{local(TypeNote, 3)}})
	require.NoError(t, err)
	require.Len(t, out, 3)
	assert.Equal(t, []string{"a", "a", "b"}, []string{out[0].Stream, out[1].Stream, out[2].Stream})
	assert.Equal(t, []int64{2, 3, 4}, []int64{out[0].Position, out[1].Position, out[2].Position})
	assert.Equal(t, testutil.IDs(out), testutil.IDs(testutil.Collect(t, s.ReadAll(ctx, 1, 0))))
	// The next position after a rolled-back append has no hole.
	assert.Equal(t, int64(4), head(t, s))
}

func testBadBatch(t *testing.T, h *harness) {
	ctx := t.Context()
	good := func() eventstore.Event { return eventstore.Event{Type: TypeCreated, Data: []byte(`{"title":"ok"}`)} }
	cases := []struct {
		name   string
		bad    eventstore.Event
		target error
		field  string
	}{
		{"UnknownType", eventstore.Event{Type: "test:unknown"}, eventstore.ErrUnknownEventType, ""},
		{"InvalidData", eventstore.Event{Type: TypeCreated, Data: []byte(`{"title":""}`)}, eventstore.ErrInvalidEvent, "data.title"},
		{"WrongDataType", eventstore.Event{Type: TypeCreated, Data: []byte(`{"title":7}`)}, eventstore.ErrInvalidEvent, "data.title"},
		{"DataNotJSON", eventstore.Event{Type: TypeNote, Data: []byte(`{`)}, eventstore.ErrInvalidEvent, "data"},
		{"MetaNotJSON", eventstore.Event{Type: TypeNote, Meta: []byte(`nope`)}, eventstore.ErrInvalidEvent, "meta"},
		{"EmptyType", eventstore.Event{}, eventstore.ErrInvalidEvent, "type"},
		{"BadID", eventstore.Event{Type: TypeNote, ID: "not-a-ulid"}, eventstore.ErrInvalidEvent, "id"},
		{"TooBig", eventstore.Event{Type: TypeNote, Data: bigJSON(eventstore.MaxEventBytes)}, eventstore.ErrInvalidEvent, "data"},
	}
	for _, c := range cases {
		t.Run("Append"+c.name, func(t *testing.T) {
			s := h.store(t)
			_, err := s.Append(ctx,
				eventstore.Write{Stream: "ok", Events: []eventstore.Event{good()}},
				eventstore.Write{Stream: "s", Events: []eventstore.Event{good(), c.bad, good()}})
			checkBad(t, err, c.target, c.field)
			assertEmpty(t, s)
		})
		t.Run("Insert"+c.name, func(t *testing.T) {
			s := h.store(t)
			ok := remote("s", TypeCreated, base())
			bad := c.bad
			bad.Stream, bad.Origin, bad.Created = "s", "remote-node", base()+1
			if bad.ID == "" {
				bad.ID = eventstore.NewID()
			}
			res, err := s.Insert(ctx, ok, bad)
			if _, keeps := s.(eventstore.Reviver); keeps && registryRefusal(c.target, c.field) {
				// An edge store keeps what its registry refuses, flagged
				// (see the Unknown checks).
				require.NoError(t, err)
				assert.True(t, res[1].Event.Unknown)
				assert.False(t, res[0].Event.Unknown)
				return
			}
			checkBad(t, err, c.target, c.field)
			assertEmpty(t, s)
		})
	}
	t.Run("InsertEnvelope", func(t *testing.T) {
		s := h.store(t)
		for field, mutate := range map[string]func(*eventstore.Event){
			"stream":  func(e *eventstore.Event) { e.Stream = "" },
			"origin":  func(e *eventstore.Event) { e.Origin = "" },
			"created": func(e *eventstore.Event) { e.Created = 0 },
			"id":      func(e *eventstore.Event) { e.ID = "" },
		} {
			bad := remote("s", TypeNote, base())
			mutate(&bad)
			_, err := s.Insert(ctx, remote("s", TypeNote, base()), bad)
			checkBad(t, err, eventstore.ErrInvalidEvent, field)
		}
		assertEmpty(t, s)
	})
	t.Run("StreamMismatch", func(t *testing.T) {
		s := h.store(t)
		_, err := s.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{{Type: TypeNote, Stream: "other"}}})
		checkBad(t, err, eventstore.ErrInvalidEvent, "stream")
		assertEmpty(t, s)
	})
}

// registryRefusal reports whether a bad event of a case fails the Registry
// rather than the envelope: an unknown type or a payload its validator
// refuses.
func registryRefusal(target error, field string) bool {
	return target == eventstore.ErrUnknownEventType || len(field) > len("data.") && field[:len("data.")] == "data."
}

func checkBad(t *testing.T, err error, target error, field string) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, target)
	if field != "" {
		var ve *eventstore.ValidationError
		if assert.ErrorAs(t, err, &ve) {
			assert.Equal(t, field, ve.Field, "field named by %v", err)
		}
	}
}

func bigJSON(n int) []byte {
	b := make([]byte, n+2)
	b[0] = '"'
	for i := 1; i <= n; i++ {
		b[i] = 'x'
	}
	b[n+1] = '"'
	return b
}

func testOnAppend(t *testing.T, h *harness) {
	ctx := t.Context()
	errBoom := errors.New("storetest: hook refused")
	var mu sync.Mutex
	var seen [][]string
	cfg := Config()
	cfg.OnAppend = func(ctx context.Context, tx eventstore.Tx, events []eventstore.Event) error {
		mu.Lock()
		seen = append(seen, testutil.IDs(events))
		mu.Unlock()
		for _, e := range events {
			if e.Position == 0 {
				return errors.New("storetest: hook saw an event without position")
			}
			if e.Type == TypeRenamed {
				return errBoom
			}
		}
		// The hook writes in the same transaction.
		if err := txAll(t, tx).SetState(ctx, "hook/"+events[0].ID, []byte("x")); err != nil {
			return err
		}
		v, err := tx.StreamVersion(ctx, events[0].Stream)
		if err != nil {
			return err
		}
		if v == 0 {
			return errors.New("storetest: hook does not see the appended events")
		}
		return nil
	}
	s := h.open(t, cfg)

	out := appendTo(t, s, "s", local(TypeNote, 1), local(TypeNote, 2))
	_, err := s.State(ctx, "hook/"+out[0].ID)
	require.NoError(t, err, "hook's write committed with the append")
	mu.Lock()
	assert.Equal(t, [][]string{testutil.IDs(out)}, seen)
	mu.Unlock()

	// An error from the hook aborts the append.
	_, err = s.Append(ctx, eventstore.Write{Stream: "t", Events: []eventstore.Event{local(TypeNote, 1), local(TypeRenamed, 2)}})
	require.ErrorIs(t, err, errBoom)
	assert.Zero(t, version(t, s, "t"))
	assert.Equal(t, int64(2), head(t, s))

	// Insert does not run the hook: it is for local events only.
	insert(t, s, remote("r", TypeNote, base()))
	mu.Lock()
	assert.Len(t, seen, 2)
	mu.Unlock()

	// Inside Update, a failing hook fails the Append; the caller decides.
	err = s.Update(ctx, func(tx eventstore.Tx) error {
		if _, err := tx.Append(ctx, eventstore.Write{Stream: "u", Events: []eventstore.Event{local(TypeRenamed, 1)}}); err != nil {
			return err
		}
		return nil
	})
	require.ErrorIs(t, err, errBoom)
	assert.Zero(t, version(t, s, "u"))
}
