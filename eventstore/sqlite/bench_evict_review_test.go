package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// BenchmarkAppendAfterEvictReview: one event per Append on a store that
// never evicted and on one that evicted the ledger's last events once (and
// appended past the evicted head since): the latter keeps evictedHead set
// until it is reopened, so each insert reads max(position) again.
func BenchmarkAppendAfterEvictReview(b *testing.B) {
	for _, evicted := range []bool{false, true} {
		name := "fresh"
		if evicted {
			name = "evicted"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s := benchStore(b, filepath.Join(b.TempDir(), "ferry.db"))
			for range 10 {
				evs := make([]eventstore.Event, 1000)
				for j := range evs {
					evs[j] = eventstore.Event{Type: "task:created", Data: benchData}
				}
				_, err := s.Append(ctx, eventstore.Write{Stream: "keep", Events: evs})
				require.NoError(b, err)
			}
			if evicted {
				got, err := s.Insert(ctx, eventstore.Event{ID: eventstore.NewID(), Stream: "gone", Type: "task:created", Data: benchData,
					Origin: "other", Created: eventstore.NewClock().Now(), HubPosition: 1})
				require.NoError(b, err)
				require.True(b, got[0].Inserted)
				require.NoError(b, s.Update(ctx, func(tx eventstore.Tx) error {
					_, err := tx.(*Tx).Evict(ctx, "gone")
					return err
				}))
				_, err = s.Append(ctx, eventstore.Write{Stream: "keep", Events: []eventstore.Event{{Type: "task:created", Data: benchData}}})
				require.NoError(b, err)
				require.NotZero(b, s.evictedHead.Load())
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := s.Append(ctx, eventstore.Write{Stream: "task-1", Events: []eventstore.Event{{Type: "task:created", Data: benchData}}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
