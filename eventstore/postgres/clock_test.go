package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// TestClockResumesPastHeld: a Store opened on a tenant that holds an event
// stamped ahead of this host's clock (an earlier process on a host whose
// clock ran fast) stamps its next events after it, whether it appends on
// its own or inside Update, and another tenant's events do not move it.
func TestClockResumesPastHeld(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, testSchema(t), Options{})
	tenant, other := newTenant(t), newTenant(t)
	ahead := eventstore.TimestampOf(time.Now().Add(time.Hour))
	far := eventstore.TimestampOf(time.Now().Add(48 * time.Hour))

	first := openStore(t, db, tenant, eventstore.Config{Origin: "fast-host"})
	_, err := first.Append(ctx, eventstore.Write{Stream: "s/1", Events: []eventstore.Event{{Type: "t", Data: []byte(`{}`), Created: ahead}}})
	require.NoError(t, err)
	_, err = openStore(t, db, other, eventstore.Config{}).Append(ctx,
		eventstore.Write{Stream: "s/1", Events: []eventstore.Event{{Type: "t", Data: []byte(`{}`), Created: far}}})
	require.NoError(t, err)

	for _, inUpdate := range []bool{false, true} {
		s := openStore(t, db, tenant, eventstore.Config{Origin: "app"})
		w := eventstore.Write{Stream: "s/2", Events: []eventstore.Event{{Type: "t", Data: []byte(`{}`)}}}
		var got []eventstore.Event
		if inUpdate {
			err = s.Update(ctx, func(tx eventstore.Tx) error {
				var err error
				got, err = tx.Append(ctx, w)
				return err
			})
		} else {
			got, err = s.Append(ctx, w)
		}
		require.NoError(t, err)
		assert.Greater(t, got[0].Created, ahead, "in Update: %v", inUpdate)
		assert.Less(t, got[0].Created, far, "in Update: %v: another tenant's clock", inUpdate)
	}
}
