package hubmetrics_test

import (
	"testing"
	"time"

	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/hub/hubmetrics"
)

// observers are the observers the hook benchmarks compare in one run:
// the no-op default (the baseline) and the Prometheus one.
func observers() []struct {
	name string
	obs  hub.Observer
} {
	return []struct {
		name string
		obs  hub.Observer
	}{{"nop", hub.NopObserver{}}, {"prometheus", hubmetrics.New()}}
}

// BenchmarkDeliveryHooks measures what the observer adds to each live
// delivery (a Live frame queued, then written: Pulled and LiveDelay),
// from every core at once; ns/op is per delivery. Compare the prometheus
// sub-benchmark with the nop one of the same run; the hub spends about
// 16.7 µs of CPU per delivered event on two cores (issue 18).
func BenchmarkDeliveryHooks(b *testing.B) {
	for _, o := range observers() {
		b.Run(o.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					o.obs.Pulled(true, 1, 300)
					o.obs.LiveDelay(3 * time.Millisecond)
				}
			})
		})
	}
}

// BenchmarkPushHooks measures the observer's cost per pushed message
// (Pushed, one timed insert, one rejection), from every core at once.
func BenchmarkPushHooks(b *testing.B) {
	for _, o := range observers() {
		b.Run(o.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					o.obs.Pushed(10, 3000)
					o.obs.StoreDone(hub.StoreInsert, time.Millisecond, false)
					o.obs.Rejected("forbidden_stream")
				}
			})
		})
	}
}
