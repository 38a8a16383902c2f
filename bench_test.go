package ferry

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
)

type benchCount struct {
	By int `json:"by"`
}

type benchCounter struct {
	Root
	N int
}

// BenchmarkExecute runs a command through the facade (ferry.Execute on an
// App) and the same command through the lower packages it wraps
// (aggregate.Execute on a Repository made once, over a sqlite.Store), in
// alternating rounds on two stores of the same kind, and reports the
// ratio: the facade must add nothing measurable (x_direct near 1).
func BenchmarkExecute(b *testing.B) {
	ctx := context.Background()
	counted := Event[benchCount]("bench:counted", Commutative())
	counters := NewAggregate("counter", func() *benchCounter { return &benchCounter{} })
	Fold(counters, counted, func(c *benchCounter, e Stored[benchCount]) { c.N += e.Data.By })
	incr := func(c *benchCounter, in benchCount) error { return counted.Raise(c, in) }

	app, err := Open(ctx, filepath.Join(b.TempDir(), "app.db"), Options{Device: "bench", Events: []EventType{counted}})
	require.NoError(b, err)
	b.Cleanup(func() { _ = app.Close() })
	reg := eventstore.NewRegistry()
	def, err := counted.definition()
	require.NoError(b, err)
	require.NoError(b, reg.Register(def))
	clock := eventstore.NewClock()
	store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "direct.db"), sqlite.Options{Config: eventstore.Config{Origin: "bench", Registry: reg, Clock: clock}})
	require.NoError(b, err)
	b.Cleanup(func() { _ = store.Close() })
	repo := aggregate.NewRepository(store, counters.reducer, aggregate.WithClock(clock))

	const round = 100
	var facade, direct time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; done += round {
		n := min(round, b.N-done)
		stream := "counter/" + eventstore.NewID() // a fresh aggregate per round: loads stay short
		start := time.Now()
		for range n {
			_, err := Execute(ctx, app, counters, stream, incr, benchCount{By: 1})
			require.NoError(b, err)
		}
		facade += time.Since(start)
		start = time.Now()
		for range n {
			_, err := aggregate.Execute(ctx, repo, stream, incr, benchCount{By: 1})
			require.NoError(b, err)
		}
		direct += time.Since(start)
	}
	b.ReportMetric(float64(facade.Nanoseconds())/float64(b.N), "facade_ns/op")
	b.ReportMetric(float64(direct.Nanoseconds())/float64(b.N), "direct_ns/op")
	b.ReportMetric(facade.Seconds()/direct.Seconds(), "x_direct")
}
