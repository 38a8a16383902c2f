package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/internal/testutil"
)

// errPoison is the failure poisonStore injects.
var errPoison = errors.New("test: the store cannot take this event")

// edgeTx is the Tx of an edge store: what the replicator reaches.
type edgeTx interface {
	eventstore.Tx
	eventstore.KeyValues
	eventstore.Checkpoints
	eventstore.OutboxWriter
}

// poisonTx fails an Insert holding an event of type "poison", for a reason
// of the store's own.
type poisonTx struct{ edgeTx }

func (t poisonTx) Insert(ctx context.Context, events ...eventstore.Event) ([]eventstore.InsertResult, error) {
	for _, e := range events {
		if e.Type == "poison" {
			return nil, errPoison
		}
	}
	return t.edgeTx.Insert(ctx, events...)
}

// poisonStore is a memory store whose transactions are poisonTx.
type poisonStore struct{ *memory.Store }

func (s poisonStore) Update(ctx context.Context, fn func(tx eventstore.Tx) error) error {
	return s.Store.Update(ctx, func(tx eventstore.Tx) error { return fn(poisonTx{tx.(edgeTx)}) })
}

// An ack is never lost to a failed apply: the pull fails (the store cannot
// take a pulled event), yet the push the hub stored on the same connection
// is recorded as acknowledged, not left pending.
func TestAckSurvivesFailedApply(t *testing.T) {
	ctx := context.Background()
	h := newTestHub(t)
	other := memory.New(eventstore.Config{Origin: "other"})
	t.Cleanup(func() { _ = other.Close() })
	_, err := other.Append(ctx, eventstore.Write{Stream: "p", Events: []eventstore.Event{{Type: "poison"}}})
	require.NoError(t, err)
	syncOnce(t, replicator(t, h, other, "acme"))

	s := poisonStore{memory.New(eventstore.Config{Origin: "device"})}
	t.Cleanup(func() { _ = s.Close() })
	mine := write(t, s, "n", 3)
	r := replicator(t, h, s, "acme")
	_, err = r.SyncOnce(ctx)
	require.ErrorIs(t, err, errPoison)
	assert.Empty(t, testutil.Collect(t, s.ReadPending(ctx, 0, 0)), "the hub stored the pushes: they are acknowledged")
	for e, err := range s.ReadAll(ctx, 0, 0) {
		require.NoError(t, err)
		assert.NotZero(t, e.HubPosition, "event %s", e.ID)
	}
	assert.Len(t, mine, 3)
}
