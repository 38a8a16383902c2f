package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/storetest"
)

// The single-event and the batched append take different paths; both must
// compute the same flags and positions.
func TestAppendPaths(t *testing.T) {
	for _, n := range []int{1, 3, 4, 5, 16, 17, 64, 65, 200} {
		t.Run("", func(t *testing.T) {
			ctx := context.Background()
			s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
			late := eventstore.TimestampOf(time.Now().Add(-time.Hour)) // sorts before everything appended below
			appendN(t, s, "other", 2)

			evs := appendN(t, s, "s", n)
			for i, e := range evs {
				assert.Equal(t, int64(3+i), e.Position)
				assert.False(t, e.Outdated)
			}
			var pos int64 = 2
			for e, err := range s.ReadAll(ctx, 2, 0) {
				require.NoError(t, err)
				pos++
				assert.Equal(t, pos, e.Position)
				assert.Equal(t, evs[pos-3].ID, e.ID)
				assert.False(t, e.Outdated)
			}
			assert.Equal(t, int64(2+n), pos)
			v, err := s.StreamVersion(ctx, "s")
			require.NoError(t, err)
			assert.Equal(t, int64(n), v)

			// A late event of the same type is outdated, of another type not.
			require.NoError(t, s.SaveSnapshot(ctx, eventstore.Snapshot{Name: "r", Stream: "s", Cursor: eventstore.CursorOf(evs[0]), Version: 1}))
			require.NoError(t, s.SaveSnapshot(ctx, eventstore.Snapshot{Name: "r", Stream: "other", Cursor: eventstore.Cursor{Created: late}, Version: 1}))
			got, err := s.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{
				{Type: "thing:happened", Created: late},
			}})
			require.NoError(t, err)
			assert.True(t, got[0].Outdated)
			_, err = s.LoadSnapshot(ctx, "r", "s")
			assert.ErrorIs(t, err, eventstore.ErrNotFound, "a late append invalidates the stream's snapshot")
			_, err = s.LoadSnapshot(ctx, "r", "other")
			assert.NoError(t, err, "other streams' snapshots stay")

			got, err = s.Append(ctx, eventstore.Write{Stream: "s", Events: []eventstore.Event{
				{Type: "other:type", Created: late + 1},
				{Type: "thing:happened", Created: late + 2},
			}})
			require.NoError(t, err)
			assert.False(t, got[0].Outdated)
			assert.True(t, got[1].Outdated)
			st, err := s.Status(ctx, got[0])
			require.NoError(t, err)
			assert.Equal(t, eventstore.EventStatus{Exists: true, Outdated: false}, st)
			st, err = s.Status(ctx, got[1])
			require.NoError(t, err)
			assert.Equal(t, eventstore.EventStatus{Exists: true, Outdated: true}, st)
		})
	}
}

func TestAppendDuplicateInBatch(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	stored := appendN(t, s, "a", 1)[0]
	for _, ids := range [][]string{
		{"", "", stored.ID},                 // already stored, in a batch
		{eventstore.NewID(), "", ""},        // repeated inside the batch
		{"", stored.ID, "", "", "", "", ""}, // stored, in a multi-row INSERT
	} {
		evs := make([]eventstore.Event, len(ids))
		for i, id := range ids {
			evs[i] = eventstore.Event{ID: id, Type: "t"}
		}
		if ids[0] != "" && ids[0] != stored.ID {
			evs[len(evs)-1].ID = ids[0]
		}
		_, err := s.Append(ctx, eventstore.Write{Stream: "b", Events: evs})
		require.ErrorIs(t, err, eventstore.ErrInvalidEvent)
		var ve *eventstore.ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "id", ve.Field)
	}
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), head)
	v, err := s.StreamVersion(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, int64(0), v)
}

func TestInsertRecordsHubPositionAndCounts(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	local := appendN(t, s, "a", 1)[0]
	remote := eventstore.Event{ID: eventstore.NewID(), Stream: "a", Type: "thing:happened", Created: local.Created + 1,
		Origin: "elsewhere", HubPosition: 7}
	local.HubPosition = 3
	res, err := s.Insert(ctx, remote, local, remote)
	require.NoError(t, err)
	assert.Equal(t, []storetest.Outcome{
		{ID: remote.ID, Inserted: true, Position: 2},
		{ID: local.ID, Position: 1},
		{ID: remote.ID, Position: 2},
	}, storetest.Outcomes(res))
	v, err := s.StreamVersion(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, int64(2), v, "duplicates are not counted")
	var pending []string
	for e, err := range s.ReadPending(ctx, 0, 0) {
		require.NoError(t, err)
		pending = append(pending, e.ID)
	}
	assert.Empty(t, pending, "the local event got its hub position from the duplicate")
	streams, err := s.ListStreams(ctx, eventstore.ListOptions{})
	require.NoError(t, err)
	assert.Equal(t, []eventstore.StreamInfo{{Name: "a", Version: 2}}, streams)
}

// A snapshot whose cursor lies ahead of a new event is stale, whether the
// event is its type's latest (the stream_types triggers) or not.
func TestAppendInvalidatesSnapshotsAhead(t *testing.T) {
	ctx := context.Background()
	future := eventstore.TimestampOf(time.Now().Add(time.Hour))
	for _, n := range []int{1, 2, 70} {
		s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
		for _, stream := range []string{"s", "t"} {
			require.NoError(t, s.SaveSnapshot(ctx, eventstore.Snapshot{Name: "r", Stream: stream,
				Cursor: eventstore.Cursor{Created: future, ID: eventstore.NewID()}, Version: 9}))
		}
		appendN(t, s, "s", n)
		_, err := s.LoadSnapshot(ctx, "r", "s")
		assert.ErrorIs(t, err, eventstore.ErrNotFound, "n=%d", n)
		_, err = s.LoadSnapshot(ctx, "r", "t")
		assert.NoError(t, err, "n=%d", n)

		// A snapshot behind the events stays.
		last := appendN(t, s, "s", 1)[0]
		require.NoError(t, s.SaveSnapshot(ctx, eventstore.Snapshot{Name: "r", Stream: "s", Cursor: eventstore.CursorOf(last), Version: 1}))
		appendN(t, s, "s", n)
		_, err = s.LoadSnapshot(ctx, "r", "s")
		assert.NoError(t, err, "n=%d", n)
	}
}

func TestSetHubPositions(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	evs := appendN(t, s, "a", 3)
	require.NoError(t, s.SetHubPositions(ctx,
		eventstore.HubAck{ID: evs[0].ID, HubPosition: 10},
		eventstore.HubAck{ID: evs[1].ID, HubPosition: 0},           // ignored
		eventstore.HubAck{ID: eventstore.NewID(), HubPosition: 11}, // unknown: ignored
	))
	require.NoError(t, s.SetHubPositions(ctx, eventstore.HubAck{ID: evs[0].ID, HubPosition: 99})) // recorded already
	var pending []int64
	for e, err := range s.ReadPending(ctx, 0, 0) {
		require.NoError(t, err)
		pending = append(pending, e.Position)
	}
	assert.Equal(t, []int64{2, 3}, pending)
	for e, err := range s.ReadAll(ctx, 0, 1) {
		require.NoError(t, err)
		assert.Equal(t, int64(10), e.HubPosition)
	}
	pending = pending[:0]
	for e, err := range s.ReadPending(ctx, 2, 1) {
		require.NoError(t, err)
		pending = append(pending, e.Position)
	}
	assert.Equal(t, []int64{3}, pending)
}
