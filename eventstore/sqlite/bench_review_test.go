package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// BenchmarkHeadReview: Store.Head on a ledger of 10,000 events (the hot
// read a client does before every pull and a projector per wake-up).
// Review of the eviction change: Head now also reads meta.
func BenchmarkHeadReview(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b, filepath.Join(b.TempDir(), "ferry.db"))
	for i := range 10 {
		evs := make([]eventstore.Event, 1000)
		for j := range evs {
			evs[j] = eventstore.Event{Type: "task:created", Data: benchData}
		}
		_, err := s.Append(ctx, eventstore.Write{Stream: fmt.Sprintf("s-%d", i), Events: evs})
		require.NoError(b, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := s.Head(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
