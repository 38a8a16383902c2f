package hub_test

import (
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/hub"
)

// liveClients is the number of connections BenchmarkLiveFanout follows.
const liveClients = 100

// BenchmarkLiveFanout measures the hub's side of live propagation: with
// 100 connections of one tenant caught up on a PostgreSQL hub, one of them
// pushes an event at a time; the latency runs from the push until a
// connection receives the Live frame (frames are not decoded, so the
// client's cost is left out). It reports p50_ms and p99_ms over every
// connection's arrivals, and last_p99_ms for the slowest connection of
// each event.
func BenchmarkLiveFanout(b *testing.B) {
	db := openPostgres(b, testSchema(b))
	h := newHarness(b, newTenantStores(b, func(tenant string) (eventstore.Store, error) {
		return db.Store(tenant, eventstore.Config{})
	}), func(c *hub.Config) { c.MaxConnsPerSubject = liveClients }) // one token for all of them
	arrivals := make(chan time.Time, liveClients)
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, liveClients)
	var pusher *client
	for i := range conns {
		c := connect(b, h, token(b, "acme"), 0)
		c.catchUp()
		conns[i] = c.ws
		if i == 0 {
			pusher = c // it reads its own frames in push
			continue
		}
		wg.Go(func() {
			for {
				if _, _, err := c.ws.ReadMessage(); err != nil {
					return
				}
				arrivals <- time.Now()
			}
		})
	}
	var lat, last []time.Duration
	cpu0 := processCPU(b)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		pusher.push(fmt.Sprintf("b%d", i), newEvent("live/1"))
		var worst time.Duration
		for range liveClients - 1 {
			d := (<-arrivals).Sub(start)
			lat = append(lat, d)
			worst = max(worst, d)
		}
		last = append(last, worst)
	}
	b.StopTimer()
	cpu := processCPU(b) - cpu0
	for _, ws := range conns {
		_ = ws.Close()
	}
	wg.Wait()
	p := func(l []time.Duration, q float64) float64 {
		slices.Sort(l)
		return float64(l[min(len(l)-1, int(q*float64(len(l))))].Microseconds()) / 1000
	}
	b.ReportMetric(p(lat, 0.50), "p50_ms")
	b.ReportMetric(p(lat, 0.99), "p99_ms")
	b.ReportMetric(p(last, 0.99), "last_p99_ms")
	// The hub and the receivers share the process: CPU per delivery
	// counts both, and compares runs of the same benchmark.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*(liveClients-1)), "cpu_us/delivery")
}

// processCPU returns the CPU time (user and system) the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
