package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil"
)

var insertChecks = []check{
	{"DuplicateIsNoop", testDuplicate},
	{"ReturnsStored", testInsertReturnsStored},
	{"Commutative", testCommutative},
	{"OutdatedRule", testOutdated},
	{"Status", testStatus},
	{"HydratedFlag", testHydrated},
	{"ClockDrift", testClockDrift},
	{"AdvancesClock", testAdvancesClock},
}

func testDuplicate(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	b := base()
	e := remote("s", TypeNote, at(b, 10))
	res := insert(t, s, e)
	assert.Equal(t, Outcome{ID: e.ID, Inserted: true, Position: 1}, OutcomeOf(res[0]))

	// Same ID again, even with a different payload: reported, not stored.
	dup := e
	dup.Data = []byte(`{"changed":true}`)
	other := remote("s", TypeNote, at(b, 20))
	res = insert(t, s, dup, other, other)
	assert.Equal(t, Outcome{ID: e.ID, Inserted: false, Position: 1}, OutcomeOf(res[0]))
	assert.Equal(t, Outcome{ID: other.ID, Inserted: true, Position: 2}, OutcomeOf(res[1]))
	assert.Equal(t, Outcome{ID: other.ID, Inserted: false, Position: 2}, OutcomeOf(res[2]), "second copy in one batch")

	assert.Equal(t, int64(2), head(t, s))
	assert.Equal(t, int64(2), version(t, s, "s"))
	got := testutil.Collect(t, s.ReadStream(ctx, "s", eventstore.ReadOptions{}))
	require.Len(t, got, 2)
	assert.JSONEq(t, string(e.Data), string(got[0].Data), "first copy kept")

	// Inserting a locally appended event is a duplicate too.
	mine := appendTo(t, s, "m", local(TypeNote, 1))[0]
	res = insert(t, s, mine)
	assert.False(t, res[0].Inserted)
	assert.Equal(t, mine.Position, res[0].Event.Position)
	assert.Equal(t, int64(3), head(t, s))

	// Appending an event whose caller-chosen ID is stored fails and stores
	// nothing.
	_, err := s.Append(ctx, eventstore.Write{Stream: "n", Events: []eventstore.Event{local(TypeNote, 1), {ID: e.ID, Type: TypeNote}}})
	require.ErrorIs(t, err, eventstore.ErrInvalidEvent)
	var ve *eventstore.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "id", ve.Field)
	assert.Equal(t, int64(3), head(t, s))
	assert.Zero(t, version(t, s, "n"))
}

func testOutdated(t *testing.T, h *harness) {
	s := h.store(t)
	b := base()
	e20 := remote("s", TypeNote, at(b, 20))
	e10 := remote("s", TypeNote, at(b, 10))
	r10 := remote("s", TypeRenamed, at(b, 10))
	o10 := remote("other", TypeNote, at(b, 5))
	e30 := remote("s", TypeNote, at(b, 30))
	lo, hi := eventstore.NewID(), eventstore.NewID() // lo < hi
	require.Less(t, lo, hi)
	tieHi := remote("s", TypeRenamed, at(b, 40))
	tieHi.ID = hi
	tieLo := remote("s", TypeRenamed, at(b, 40))
	tieLo.ID = lo

	cases := []struct {
		name string
		e    eventstore.Event
		want bool
	}{
		{"FirstOfType", e20, false},
		{"EarlierSameType", e10, true},
		{"EarlierOtherType", r10, false},
		{"OtherStream", o10, false},
		{"Later", e30, false},
		{"TieLargerID", tieHi, false},
		{"TieSmallerID", tieLo, true},
	}
	for _, c := range cases {
		res := insert(t, s, c.e)
		assert.True(t, res[0].Inserted, c.name)
		assert.Equal(t, c.want, res[0].Event.Outdated, c.name)
	}
	// The flag is recorded: duplicates report it and reads carry it.
	res := insert(t, s, e10, e20)
	assert.Equal(t, []bool{true, false}, []bool{res[0].Event.Outdated, res[1].Event.Outdated})
	assert.Equal(t, []bool{false, false}, []bool{res[0].Inserted, res[1].Inserted})
	want := map[string]bool{}
	for _, c := range cases {
		want[c.e.ID] = c.want
	}
	for _, e := range testutil.Collect(t, s.ReadAll(t.Context(), 0, 0)) {
		assert.Equal(t, want[e.ID], e.Outdated, "stored flag of %s", e.ID)
	}

	// Append computes it as well: an append with an explicit early Created.
	a := appendTo(t, s, "s", eventstore.Event{Type: TypeNote, Created: at(b, 15)})
	assert.True(t, a[0].Outdated)
	a = appendTo(t, s, "s", local(TypeNote, 0))
	assert.False(t, a[0].Outdated)
}

func testStatus(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	b := base()
	e10 := remote("s", TypeNote, at(b, 10))
	e20 := remote("s", TypeNote, at(b, 20))
	insert(t, s, e20, e10)

	status := func(e eventstore.Event) eventstore.EventStatus {
		st, err := s.Status(ctx, e)
		require.NoError(t, err)
		return st
	}
	assert.Equal(t, eventstore.EventStatus{Exists: true, Outdated: true}, status(e10))
	assert.Equal(t, eventstore.EventStatus{Exists: true, Outdated: false}, status(e20))
	assert.Equal(t, eventstore.EventStatus{Exists: false, Outdated: true}, status(remote("s", TypeNote, at(b, 15))))
	assert.Equal(t, eventstore.EventStatus{}, status(remote("s", TypeNote, at(b, 25))))
	assert.Equal(t, eventstore.EventStatus{}, status(remote("s", TypeRenamed, at(b, 1))), "other type")
	assert.Equal(t, eventstore.EventStatus{}, status(remote("t", TypeNote, at(b, 1))), "other stream")
	// Status of e20 changes once a later event of its stream and type lands.
	insert(t, s, remote("s", TypeNote, at(b, 30)))
	assert.Equal(t, eventstore.EventStatus{Exists: true, Outdated: true}, status(e20))
}

func testHydrated(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	mine := appendTo(t, s, "s", local(TypeNote, 1))[0]
	assert.False(t, mine.Hydrated)
	theirs := remote("s", TypeNote, mine.Created+1)
	insert(t, s, theirs)

	got := testutil.Collect(t, s.ReadStream(ctx, "s", eventstore.ReadOptions{}))
	require.Len(t, got, 2)
	assert.Equal(t, mine.ID, got[0].ID)
	assert.False(t, got[0].Hydrated, "appended event")
	assert.Equal(t, theirs.ID, got[1].ID)
	assert.True(t, got[1].Hydrated, "inserted event")
	assert.Equal(t, "remote-node", got[1].Origin)
}

func testHubPositions(t *testing.T, h *harness) {
	s := outbox(t, h.store(t))
	ctx := t.Context()
	mine := appendTo(t, s, "s", local(TypeNote, 1), local(TypeNote, 2), local(TypeNote, 3), local(TypeNote, 4))
	theirs := remote("s", TypeNote, base())
	theirs.HubPosition = 77
	insert(t, s, theirs)
	pending := func(after int64, limit int) []string {
		return testutil.IDs(testutil.Collect(t, s.ReadPending(ctx, after, limit)))
	}
	assert.Equal(t, testutil.IDs(mine), pending(0, 0), "outbox holds local events only")
	assert.Equal(t, testutil.IDs(mine[1:3]), pending(1, 2), "after and limit")

	// Acks: unknown IDs are ignored.
	require.NoError(t, s.SetHubPositions(ctx, eventstore.HubAck{ID: mine[0].ID, HubPosition: 100},
		eventstore.HubAck{ID: eventstore.NewID(), HubPosition: 101}))
	assert.Equal(t, testutil.IDs(mine[1:]), pending(0, 0))
	// A repeated ack with another position keeps the first one: a hub
	// position, once known, never changes.
	require.NoError(t, s.SetHubPositions(ctx, eventstore.HubAck{ID: mine[0].ID, HubPosition: 555},
		eventstore.HubAck{ID: mine[2].ID, HubPosition: 0}))
	assert.Equal(t, testutil.IDs(mine[1:]), pending(0, 0), "a zero hub position is no ack")

	// The hub echoes a local event back: Insert records its hub position.
	echo := mine[1]
	echo.HubPosition = 102
	res := insert(t, s, echo)
	assert.False(t, res[0].Inserted)
	assert.Equal(t, testutil.IDs(mine[2:]), pending(0, 0))
	// A second echo with another position does not overwrite it.
	echo.HubPosition = 999
	insert(t, s, echo)

	hub := map[string]int64{}
	for _, e := range testutil.Collect(t, s.ReadAll(ctx, 0, 0)) {
		hub[e.ID] = e.HubPosition
	}
	assert.Equal(t, map[string]int64{mine[0].ID: 100, mine[1].ID: 102, mine[2].ID: 0, mine[3].ID: 0, theirs.ID: 77}, hub)

	// Within one batch a repeated ID is a duplicate of its first copy, and
	// the first hub position any copy knows is recorded.
	twice := remote("s", TypeNote, base())
	later := twice
	later.HubPosition = 42
	res = insert(t, s, twice, later)
	assert.True(t, res[0].Inserted)
	assert.False(t, res[1].Inserted)
	for _, e := range testutil.Collect(t, s.ReadAll(ctx, 0, 0)) {
		if e.ID == twice.ID {
			assert.Equal(t, int64(42), e.HubPosition, "hub position of the later copy")
		}
	}
}

func testClockDrift(t *testing.T, h *harness) {
	now := time.Now()
	cfg := Config()
	cfg.Clock = eventstore.NewClock(eventstore.WithWallClock(func() time.Time { return now }), eventstore.WithMaxDrift(time.Minute))
	s := h.open(t, cfg)
	ok := remote("s", TypeNote, eventstore.TimestampOf(now.Add(30*time.Second)))
	far := remote("s", TypeNote, eventstore.TimestampOf(now.Add(time.Hour)))

	_, err := s.Insert(t.Context(), ok, far)
	require.ErrorIs(t, err, eventstore.ErrClockDrift)
	var de *eventstore.ClockDriftError
	assert.True(t, errors.As(err, &de))
	assertEmpty(t, s)
	assert.Less(t, cfg.Clock.Last(), far.Created, "clock not dragged forward")

	res := insert(t, s, ok)
	assert.True(t, res[0].Inserted)
}

func testAdvancesClock(t *testing.T, h *harness) {
	now := time.Now()
	cfg := Config()
	cfg.Clock = eventstore.NewClock(eventstore.WithWallClock(func() time.Time { return now }))
	s := h.open(t, cfg)
	// A remote event a little ahead of our wall clock: a local event written
	// after seeing it must sort after it.
	ahead := remote("s", TypeNote, eventstore.TimestampOf(now.Add(2*time.Second)))
	insert(t, s, ahead)
	mine := appendTo(t, s, "s", local(TypeNote, 1))[0]
	assert.Greater(t, mine.Created, ahead.Created)
	got := testutil.Collect(t, s.ReadStream(t.Context(), "s", eventstore.ReadOptions{}))
	assert.Equal(t, []string{ahead.ID, mine.ID}, testutil.IDs(got))
}

// testInsertReturnsStored: Insert's results hold each new event exactly as
// the store holds it (what ReadAll yields), so a caller projects them
// without reading them back.
func testInsertReturnsStored(t *testing.T, h *harness) {
	s := h.store(t)
	b := base()
	appendTo(t, s, "s", local(TypeNote, 1))
	late := remote("s", TypeNote, at(b, 10)) // outdated: the local event is later
	late.HubPosition = 7
	fresh := remote("r", TypeNote, at(b, 20))
	fresh.Data, fresh.Meta, fresh.Schema = nil, nil, 0 // defaults filled in
	res := insert(t, s, late, fresh, late)
	stored := testutil.Collect(t, s.ReadAll(t.Context(), 1, 0))
	require.Len(t, stored, 2)
	require.True(t, res[0].Inserted)
	require.True(t, res[1].Inserted)
	assert.Equal(t, stored[0], res[0].Event)
	assert.Equal(t, stored[1], res[1].Event)
	assert.True(t, res[0].Event.Outdated)
	assert.True(t, res[0].Event.Hydrated)
	assert.Equal(t, 1, res[1].Event.Schema)
	assert.False(t, res[2].Inserted)
	assert.Equal(t, OutcomeOf(res[0]).Position, OutcomeOf(res[2]).Position, "the duplicate names the stored copy")
}

// testCommutative: events of a commutative type are never Outdated, through
// Insert and Append, one at a time and in batches large enough for a
// backend's bulk path, while the same history of a last-writer-wins type
// is.
func testCommutative(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	b := base()
	for _, typ := range []string{TypeCounted, TypeNote} {
		want := typ == TypeNote // only the last-writer-wins type is outdated
		stream := "s-" + typ
		latest := remote(stream, typ, at(b, 1000))
		insert(t, s, latest)
		// One earlier event, then a batch of them (a bulk insert).
		res := insert(t, s, remote(stream, typ, at(b, 1)))
		assert.Equal(t, want, res[0].Event.Outdated, "%s: one insert", typ)
		var batch []eventstore.Event
		for i := range 100 {
			batch = append(batch, remote(stream, typ, at(b, 2+i)))
		}
		for _, r := range insert(t, s, batch...) {
			assert.Equal(t, want, r.Event.Outdated, "%s: batch insert", typ)
		}
		// Local events stamped earlier than the latest: one, then many.
		early := local(typ, 1)
		early.Created = at(b, 500)
		out := appendTo(t, s, stream, early)
		assert.Equal(t, want, out[0].Outdated, "%s: one append", typ)
		var many []eventstore.Event
		for i := range 100 {
			e := local(typ, i)
			e.Created = at(b, 600+i)
			many = append(many, e)
		}
		for _, e := range appendTo(t, s, stream, many...) {
			assert.Equal(t, want, e.Outdated, "%s: batch append", typ)
		}
		st, err := s.Status(ctx, out[0])
		require.NoError(t, err)
		assert.Equal(t, want, st.Outdated, "%s: status", typ)
		n := 0
		for _, e := range testutil.Collect(t, s.ReadStream(ctx, stream, eventstore.ReadOptions{})) {
			if e.Outdated {
				n++
			}
		}
		if want {
			assert.Equal(t, 202, n, "%s: stored flags", typ)
		} else {
			assert.Zero(t, n, "%s: stored flags", typ)
		}
	}
}

// testHubPositionConflict: a pulled copy of a local event's ID with other
// content (a buggy or hostile peer wrote another event under it) does not
// give the local event the hub's position: it stays in the outbox, and
// Insert reports the conflict. The same content records it as usual.
func testHubPositionConflict(t *testing.T, h *harness) {
	s := outbox(t, h.store(t))
	ctx := t.Context()
	mine := appendTo(t, s, "s", local(TypeNote, 1), local(TypeNote, 2))
	for name, mod := range map[string]func(e *eventstore.Event){
		"data":   func(e *eventstore.Event) { e.Data = []byte(`{"i":99}`) },
		"meta":   func(e *eventstore.Event) { e.Meta = []byte(`{"actor":"mallory"}`) },
		"stream": func(e *eventstore.Event) { e.Stream = "elsewhere" },
	} {
		other := mine[0]
		other.HubPosition = 7
		mod(&other)
		res := insert(t, s, other)
		assert.False(t, res[0].Inserted, name)
		assert.True(t, res[0].Conflict, name)
	}
	assert.Equal(t, testutil.IDs(mine), testutil.IDs(testutil.Collect(t, s.ReadPending(ctx, 0, 0))), "still pending")

	// Within one call too: a later copy with other content is a conflict,
	// not the first copy's hub position.
	first := remote("r", TypeNote, base())
	second := first
	second.Data, second.HubPosition = []byte(`{"i":99}`), 9
	res := insert(t, s, first, second)
	assert.True(t, res[0].Inserted)
	assert.True(t, res[1].Conflict, "in-batch copy with other content")
	for _, e := range testutil.Collect(t, s.ReadAll(ctx, 0, 0)) {
		if e.ID == first.ID {
			assert.Zero(t, e.HubPosition, "the first copy keeps no hub position")
		}
	}

	same := mine[1]
	same.HubPosition = 8
	res = insert(t, s, same)
	assert.False(t, res[0].Conflict)
	assert.Equal(t, testutil.IDs(mine[:1]), testutil.IDs(testutil.Collect(t, s.ReadPending(ctx, 0, 0))), "the echo acked its own event")
	for _, e := range testutil.Collect(t, s.ReadAll(ctx, 0, 0)) {
		if e.Stream == "s" {
			want := map[string]int64{mine[0].ID: 0, mine[1].ID: 8}[e.ID]
			assert.Equal(t, want, e.HubPosition, e.ID)
		}
	}
}
