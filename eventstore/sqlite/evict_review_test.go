package sqlite_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/storetest"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/internal/testutil/tempsqlite"
)

// TestReviewEvictKeepsRevivalNumbers (review of the eviction change):
// revival numbers are a cursor projectors keep (projector/revive.go keeps
// the greatest one it has handled). Evicting the stream holding the
// greatest revival number must not let a later Revive give that number
// again, or every projector that saw the evicted event skips the newly
// revived one for good.
func TestReviewEvictKeepsRevivalNumbers(t *testing.T) {
	cfg := storetest.Config()
	s := tempsqlite.Open(t, cfg)
	reviewEvictKeepsRevivalNumbers(t, s, cfg.Registry)
}

// reviewEvictKeepsRevivalNumbers runs the check on s, opened with reg.
func reviewEvictKeepsRevivalNumbers(t *testing.T, s interface {
	eventstore.Store
	eventstore.Reviver
}, reg *eventstore.Registry) {
	ctx := t.Context()
	b := eventstore.TimestampOf(time.Now().Add(-time.Hour))
	ev := func(stream, typ string, ms int) eventstore.Event {
		return eventstore.Event{ID: eventstore.NewID(), Stream: stream, Type: typ, Origin: "remote-node",
			Created: eventstore.MakeTimestamp(b.Millis()+int64(ms), 0), Data: []byte(`{"i":1}`), HubPosition: int64(ms)}
	}
	const later = "test:later"
	_, err := s.Insert(ctx, ev("a", storetest.TypeFuture, 1), ev("b", storetest.TypeFuture, 2), ev("c", later, 3))
	require.NoError(t, err)

	require.NoError(t, reg.Register(eventstore.EventType{Name: storetest.TypeFuture}))
	n, err := s.Revive(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	seen := s.Revived() // what a projector that handled both revivals keeps
	require.EqualValues(t, 2, seen)

	require.NoError(t, s.Update(ctx, func(tx eventstore.Tx) error {
		e, err := eventstore.As[eventstore.Evicter](tx)
		if err != nil {
			return err
		}
		_, err = e.Evict(ctx, "b")
		return err
	}))

	require.NoError(t, reg.Register(eventstore.EventType{Name: later}))
	n, err = s.Revive(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	got := testutil.Collect(t, s.ReadRevived(ctx, seen, 0))
	assert.Len(t, got, 1, "the event revived after the eviction is past the revival number a projector had reached")
}
