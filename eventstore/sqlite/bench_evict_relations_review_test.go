package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// BenchmarkEvictRelationsReview: one Evict of 1,000 streams from a store of
// 4,000 streams with 10 relations each (40,000 relation rows). Relations
// are keyed (key, stream), so deleting one stream's rows scans the table:
// an eviction that did it per stream scanned it 1,000 times, holding the
// writer meanwhile.
func BenchmarkEvictRelationsReview(b *testing.B) {
	ctx := context.Background()
	for i := range b.N {
		b.StopTimer()
		s := benchStore(b, filepath.Join(b.TempDir(), fmt.Sprintf("r%d.db", i)))
		var names []string
		clock := eventstore.NewClock()
		require.NoError(b, s.Update(ctx, func(tx eventstore.Tx) error {
			for j := range 4000 {
				name := fmt.Sprintf("s/%05d", j)
				names = append(names, name)
				if _, err := tx.Insert(ctx, eventstore.Event{ID: eventstore.NewID(), Stream: name, Type: "x", Data: []byte(`{}`),
					Origin: "o", Created: clock.Now(), HubPosition: int64(j + 1)}); err != nil {
					return err
				}
				for k := range 10 {
					if err := tx.(*Tx).AddRelations(ctx, fmt.Sprintf("k%d-%d", j, k), name); err != nil {
						return err
					}
				}
			}
			return nil
		}))
		b.StartTimer()
		require.NoError(b, s.Update(ctx, func(tx eventstore.Tx) error {
			_, err := tx.(*Tx).Evict(ctx, names[:1000]...)
			return err
		}))
	}
}
