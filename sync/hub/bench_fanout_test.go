package hub_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/sync/hub"
)

// BenchmarkScopedFanout measures what a commit costs the hub as the number
// of live devices grows when each device subscribes to a different 1% of
// the tenant (100 groups of streams; device i pulls grp/i%100/): with 10
// and with 1,000 devices on an embedded SQLite ledger, one device pushes
// one event at a time into a random group, and the process's CPU per
// committed event is compared (x_devices, 1,000 over 10; target for issue
// 17: at most 2). The devices read their frames in this process too, so
// both sides count; a device a commit does not concern costs a map lookup
// until the next flush (skipFlush), instead of a frame. The same runs are
// repeated with the pusher on a second hub node over the same ledger, so
// that the devices' node learns the commits through its watcher
// (x_devices_remote).
func BenchmarkScopedFanout(b *testing.B) {
	run := func(devices int, remote bool) float64 {
		store, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "hub.db"), sqlite.Options{Config: eventstore.Config{Origin: "hub"}})
		require.NoError(b, err)
		b.Cleanup(func() { _ = store.Close() })
		node := func(id string) *harness {
			return newHarness(b, nil, func(c *hub.Config) {
				c.NodeID, c.MaxConnsPerSubject = id, devices+1
				c.Ledgers = hub.LedgerFunc(func(context.Context, string) (hub.Ledger, error) { return store, nil })
			})
		}
		h, pushTo := node("a"), (*harness)(nil)
		if pushTo = h; remote {
			pushTo = node("b")
		}
		pusher := connect(b, pushTo, token(b, "acme"), 0, "none/")
		pusher.catchUp()
		var wg sync.WaitGroup
		conns := make([]*websocket.Conn, devices)
		for i := range conns {
			c := connect(b, h, token(b, "acme"), 0, fmt.Sprintf("grp/%d/", i%100))
			c.catchUp()
			conns[i] = c.ws
			wg.Go(func() {
				for {
					if _, _, err := c.ws.ReadMessage(); err != nil {
						return
					}
				}
			})
		}
		const commits = 2000
		cpu0 := processCPU(b)
		for i := range commits {
			pusher.push(fmt.Sprintf("b%d", i), newEvent(fmt.Sprintf("grp/%d/x", i*37%100)))
		}
		cpu := processCPU(b) - cpu0
		for _, ws := range conns {
			_ = ws.Close()
		}
		wg.Wait()
		return float64(cpu.Microseconds()) / commits
	}
	b.ResetTimer()
	var few, many, fewRemote, manyRemote float64
	for range b.N {
		few += run(10, false)
		many += run(1000, false)
		fewRemote += run(10, true)
		manyRemote += run(1000, true)
	}
	b.StopTimer()
	n := float64(b.N)
	few, many, fewRemote, manyRemote = few/n, many/n, fewRemote/n, manyRemote/n
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("CPU per committed event: %.1f µs with 10 devices, %.1f µs with 1,000 (x_devices %.2f); pushed through another node: %.1f µs and %.1f µs (x_devices_remote %.2f); load %s",
		few, many, many/few, fewRemote, manyRemote, manyRemote/fewRemote, strings.TrimSpace(string(load)))
	b.ReportMetric(few, "cpu_us/commit_10")
	b.ReportMetric(many, "cpu_us/commit_1000")
	b.ReportMetric(many/few, "x_devices")
	b.ReportMetric(manyRemote/fewRemote, "x_devices_remote")
}
