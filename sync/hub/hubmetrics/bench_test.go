package hubmetrics_test

import (
	"testing"
	"time"

	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/hub/hubmetrics"
)

// BenchmarkDeliveryHooks measures what the observer adds to each live
// delivery (a Live frame queued, then written: Pulled and LiveDelay), from
// every core at once, for the Prometheus observer against the no-op
// default in the same run. ns/op is per delivery; prom_ns and nop_ns
// are the two, and x_nop their ratio. The hub spends about 16.7 µs of CPU
// per delivered event on two cores (issue 18), which puts prom_ns in
// proportion.
func BenchmarkDeliveryHooks(b *testing.B) {
	run := func(obs hub.Observer) float64 {
		r := testing.Benchmark(func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					obs.Pulled(true, 1, 300)
					obs.LiveDelay(3 * time.Millisecond)
				}
			})
		})
		return float64(r.NsPerOp())
	}
	var prom, nop float64
	for range b.N {
		nop += run(hub.NopObserver{})
		prom += run(hubmetrics.New())
	}
	b.ReportMetric(prom/float64(b.N), "prom_ns")
	b.ReportMetric(nop/float64(b.N), "nop_ns")
	b.ReportMetric(prom/max(nop, 1), "x_nop")
}

// BenchmarkPushHooks measures the observer's cost per pushed message of
// 10 events, one insert and one rejection (Pushed, StoreDone, Rejected),
// Prometheus against the no-op default in the same run.
func BenchmarkPushHooks(b *testing.B) {
	run := func(obs hub.Observer) float64 {
		r := testing.Benchmark(func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					obs.Pushed(10, 3000)
					obs.StoreDone(hub.StoreInsert, time.Millisecond, false)
					obs.Rejected("forbidden_stream")
				}
			})
		})
		return float64(r.NsPerOp())
	}
	var prom, nop float64
	for range b.N {
		nop += run(hub.NopObserver{})
		prom += run(hubmetrics.New())
	}
	b.ReportMetric(prom/float64(b.N), "prom_ns")
	b.ReportMetric(nop/float64(b.N), "nop_ns")
	b.ReportMetric(prom/max(nop, 1), "x_nop")
}
