package synctest_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
	"github.com/ferrysync/ferry/sync/synctest"
)

// Settings of BenchmarkFanout.
const (
	envFanoutReceivers = "FERRY_BENCH_RECEIVERS"      // connected receivers, default 1,000
	envFanoutEvents    = "FERRY_BENCH_FANOUT_EVENTS"  // events pushed one at a time, default 200
	envFanoutSyncd     = "FERRY_BENCH_SYNCD"          // a syncd binary to measure instead of this tree's (an older build, to compare)
	envFanoutHubCPUs   = "FERRY_BENCH_HUB_CPUS"       // a taskset CPU list for syncd, e.g. "0"
	envFanoutRecvCPUs  = "FERRY_BENCH_RECEIVER_CPUS"  // a taskset CPU list for the receivers (this process), e.g. "1"
	envFanoutProfile   = "FERRY_BENCH_FANOUT_PROFILE" // a directory for syncd's CPU, mutex and block profiles during the pushes
)

// BenchmarkFanout measures live fan-out as issue 18 asks: R receivers
// (default 1,000, FERRY_BENCH_RECEIVERS) connected to one real syncd
// (embedded SQLite, one tenant, every receiver pulling every stream) in
// this process, and a pusher that pushes E events (default 200) one at a
// time, each after every receiver got the one before. It reports the
// latency from the push's write to each receiver's read of the Live frame
// (p50_ms, p99_ms over every delivery), and syncd's CPU time (from
// /proc, so the receivers' CPU is not counted) per delivery, over the
// pushes alone (cpu_us/delivery) and with the receivers' connects and
// catch-ups included (cpu_us/delivery_all, how the issue measured 16.7 µs).
// Its baseline, measured first in the same run with the same receivers and
// pinning, is the floor (bench_fanout_floor_test.go): a process that only
// writes frames of the Live frames' size to as many loopback connections,
// from one loop (floor_us/delivery, and x_floor, the hub's CPU over it)
// and from a goroutine per connection (floor_go_us/delivery).
//
// To give the hub cores of its own, FERRY_BENCH_HUB_CPUS and
// FERRY_BENCH_RECEIVER_CPUS pin syncd and this process with taskset. To
// compare against an older build, FERRY_BENCH_SYNCD names its binary;
// alternate the two runs (there is no raw baseline for a fan-out). With
// FERRY_BENCH_FANOUT_PROFILE=DIR, syncd's CPU, mutex and block profiles
// taken during the pushes are written there.
func BenchmarkFanout(b *testing.B) {
	receivers := benchSize(b, envFanoutReceivers, 1000)
	events := benchSize(b, envFanoutEvents, 200)
	if cpus := os.Getenv(envFanoutRecvCPUs); cpus != "" {
		pin(b, cpus, os.Getpid())
	}
	// The floor first, with frames the size of the hub's Live frames.
	sample := eventstore.Event{ID: eventstore.NewID(), Stream: "fan/1", Type: "item:added", Schema: 1,
		Data: []byte(`{"title":"a live event for every receiver"}`), Created: eventstore.NewClock().Now(), Origin: "pusher", HubPosition: 1000}
	live, err := protocol.Encode(&protocol.Live{Events: []protocol.Event{protocol.FromStored(sample)}, Cursor: 1000})
	require.NoError(b, err)
	frameSize := len(live) + 4 // a server's WebSocket header: 2 bytes, 4 from 126
	floor := fanoutFloor(b, "loop", receivers, events, frameSize, os.Getenv(envFanoutHubCPUs))
	floorGo := fanoutFloor(b, "goroutines", receivers, events, frameSize, os.Getenv(envFanoutHubCPUs))

	bin := fanoutSyncd(b)
	args := []string{"--data-dir", b.TempDir(), "--max-conns", fmt.Sprint(receivers + 100), "--max-conns-per-subject", "4"}
	profDir := os.Getenv(envFanoutProfile)
	if profDir != "" {
		args = append(args, "--admin", "127.0.0.1:0", "--admin-contention")
	}
	p := synctest.StartSyncd(b, bin, testSecret, nil, args...)
	if cpus := os.Getenv(envFanoutHubCPUs); cpus != "" {
		pin(b, cpus, p.Pid())
	}

	clock := eventstore.NewClock()
	frames := make([][]byte, events)
	index := make(map[string]int, events) // event ID → its number
	for i := range frames {
		e := eventstore.Event{ID: eventstore.NewID(), Stream: "fan/1", Type: "item:added", Schema: 1,
			Data: []byte(`{"title":"a live event for every receiver"}`), Created: clock.Now(), Origin: "pusher"}
		index[e.ID] = i
		f, err := protocol.Encode(&protocol.Push{Batch: fmt.Sprintf("b%d", i), Events: []protocol.Event{protocol.FromStored(e)}})
		require.NoError(b, err)
		frames[i] = f
	}
	sent := make([]time.Time, events) // written before the push, read after its arrivals
	var sentMu sync.RWMutex
	arrivals := make(chan time.Duration, receivers)
	errs := make(chan error, receivers+1)

	cpu0 := procCPU(b, p.Pid())
	conns := make([]*websocket.Conn, receivers)
	var dials sync.WaitGroup
	sem := make(chan struct{}, 64)
	for r := range conns {
		sem <- struct{}{}
		dials.Go(func() {
			defer func() { <-sem }()
			ws, err := fanoutConn(p.URL(), token(b, "fanout", fmt.Sprintf("receiver-%d", r)))
			if err != nil {
				errs <- fmt.Errorf("receiver %d: %w", r, err)
				return
			}
			conns[r] = ws
		})
	}
	dials.Wait()
	select {
	case err := <-errs:
		require.NoError(b, err)
	default:
	}
	var readers sync.WaitGroup
	defer readers.Wait()
	for _, ws := range conns {
		defer ws.Close()
		readers.Go(func() {
			for {
				_, frame, err := ws.ReadMessage()
				if err != nil {
					return
				}
				now := time.Now()
				if !bytes.Contains(frame[:min(len(frame), 48)], []byte(`"type":"live"`)) {
					continue
				}
				m, err := protocol.Decode(frame, protocol.DefaultLimits())
				if err != nil {
					errs <- err
					return
				}
				for _, e := range m.(*protocol.Live).Events {
					if i, ok := index[e.ID]; ok {
						sentMu.RLock()
						at := sent[i]
						sentMu.RUnlock()
						arrivals <- now.Sub(at)
					}
				}
			}
		})
	}
	pusher, err := fanoutConn(p.URL(), token(b, "fanout", "pusher"))
	require.NoError(b, err)
	defer pusher.Close()
	readers.Go(func() { // acks and its own Live frames, dropped
		for {
			if _, _, err := pusher.ReadMessage(); err != nil {
				return
			}
		}
	})
	time.Sleep(time.Second)

	var profiled sync.WaitGroup
	defer profiled.Wait()
	if profDir != "" {
		profiled.Go(func() { saveProfiles(b, p.AdminAddr(), profDir, "fanout") })
	}
	b.ResetTimer()
	lat := make([]time.Duration, 0, events*receivers)
	cpu1 := procCPU(b, p.Pid())
	start := time.Now()
	for i, f := range frames {
		sentMu.Lock()
		sent[i] = time.Now()
		sentMu.Unlock()
		require.NoError(b, pusher.WriteMessage(websocket.TextMessage, f))
		deadline := time.After(waitTimeout)
		for range receivers {
			select {
			case d := <-arrivals:
				lat = append(lat, d)
			case err := <-errs:
				require.NoError(b, err)
			case <-deadline:
				b.Fatalf("event %d: %d of %d receivers got it within %s", i, len(lat)-i*receivers, receivers, waitTimeout)
			}
		}
	}
	elapsed := time.Since(start)
	cpu2 := procCPU(b, p.Pid())
	b.StopTimer()

	require.GreaterOrEqual(b, len(lat), 1)
	slices.Sort(lat)
	q := func(f float64) float64 {
		return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))].Microseconds()) / 1000
	}
	deliveries := float64(events * receivers)
	perDelivery := float64((cpu2 - cpu1).Microseconds()) / deliveries
	perDeliveryAll := float64((cpu2 - cpu0).Microseconds()) / deliveries
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("%d receivers x %d events (%s): p50 %.1f ms, p99 %.1f ms; syncd CPU %s over the pushes (%.2f µs/delivery), %s with the connects (%.2f µs/delivery); floor %.2f µs/delivery writing %d-byte frames from one loop, %.2f from a goroutine per connection (x_floor %.2f); hub CPUs %q, receiver CPUs %q; load %s",
		receivers, events, elapsed.Round(time.Millisecond), q(0.50), q(0.99), cpu2-cpu1, perDelivery, cpu2-cpu0, perDeliveryAll,
		floor, frameSize, floorGo, perDelivery/floor, os.Getenv(envFanoutHubCPUs), os.Getenv(envFanoutRecvCPUs), strings.TrimSpace(string(load)))
	b.ReportMetric(q(0.50), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(perDelivery, "cpu_us/delivery")
	b.ReportMetric(perDeliveryAll, "cpu_us/delivery_all")
	b.ReportMetric(floor, "floor_us/delivery")
	b.ReportMetric(floorGo, "floor_go_us/delivery")
	b.ReportMetric(perDelivery/floor, "x_floor")
}

// fanoutSyncd returns the syncd binary to measure: FERRY_BENCH_SYNCD, or
// this tree's.
func fanoutSyncd(b testing.TB) string {
	if bin := os.Getenv(envFanoutSyncd); bin != "" {
		return bin
	}
	return syncdBinary(b)
}

// pin sets the CPU affinity of every thread of process pid to cpus (a
// taskset list).
func pin(b testing.TB, cpus string, pid int) {
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, fmt.Sprint(pid)).CombinedOutput()
	require.NoError(b, err, "%s", out)
}

// fanoutConn dials url with tok, says hello with cursor 0 (pulling the
// streams of pull, or every stream) and reads until caught up.
func fanoutConn(url, tok string, pull ...string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: waitTimeout, ReadBufferSize: 1024, WriteBufferSize: 1024,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
			}
			return c, err
		}}
	ws, resp, err := d.Dial(url, http.Header{"Authorization": {"Bearer " + tok}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	hello, err := protocol.Encode(&protocol.Hello{Versions: protocol.Versions(), Client: "fanout-bench", Streams: pull})
	if err == nil {
		err = ws.WriteMessage(websocket.TextMessage, hello)
	}
	for err == nil {
		var frame []byte
		if _, frame, err = ws.ReadMessage(); err == nil && bytes.Contains(frame, []byte(`"caught_up"`)) {
			return ws, nil
		}
	}
	_ = ws.Close()
	return nil, err
}

// BenchmarkScopedFanoutHub measures issue 17's fan-out target where the
// hub has a process of its own: the CPU a real syncd (embedded SQLite, one
// tenant) spends per committed event with 10 and with 1,000 live devices,
// device i pulling grp/(i%100)/ (each a different 1% of the tenant), while
// a pusher pushes 2,000 single events into the groups in turn. syncd's CPU
// comes from /proc, so the devices' reading (in this process) is not in
// it, as it is in sync/hub's BenchmarkScopedFanout. It reports both and
// x_devices, their ratio (target: at most 2), alternating the two sizes
// twice and taking the least of each. FERRY_BENCH_SYNCD measures another
// build.
func BenchmarkScopedFanoutHub(b *testing.B) {
	const commits, groups = 2000, 100
	clock := eventstore.NewClock()
	frames := make([][]byte, commits)
	for i := range frames {
		e := eventstore.Event{ID: eventstore.NewID(), Stream: fmt.Sprintf("grp/%d/x", i*37%groups), Type: "item:added", Schema: 1,
			Data: []byte(`{"title":"an event for one group"}`), Created: clock.Now(), Origin: "pusher"}
		f, err := protocol.Encode(&protocol.Push{Batch: fmt.Sprintf("b%d", i), Events: []protocol.Event{protocol.FromStored(e)}})
		require.NoError(b, err)
		frames[i] = f
	}
	run := func(devices int) float64 {
		p := synctest.StartSyncd(b, fanoutSyncd(b), testSecret, nil, "--data-dir", b.TempDir(),
			"--max-conns", fmt.Sprint(devices+100), "--max-conns-per-subject", "4")
		defer func() { _ = p.Kill() }()
		var got atomic.Int64
		var readers sync.WaitGroup
		conns := make([]*websocket.Conn, devices)
		for i := range conns {
			ws, err := fanoutConn(p.URL(), token(b, "acme", fmt.Sprintf("device-%d", i)), fmt.Sprintf("grp/%d/", i%groups))
			require.NoError(b, err)
			conns[i] = ws
			readers.Go(func() {
				for {
					_, frame, err := ws.ReadMessage()
					if err != nil {
						return
					}
					got.Add(int64(bytes.Count(frame, []byte(`"stream":"grp/`))))
				}
			})
		}
		pusher, err := fanoutConn(p.URL(), token(b, "acme", "pusher"), "none/")
		require.NoError(b, err)
		want := int64(0) // deliveries: each commit reaches the devices of its group
		for i := range commits {
			want += int64(devices/groups + min(1, max(0, devices%groups-i*37%groups)))
		}
		time.Sleep(500 * time.Millisecond)
		cpu0 := procCPU(b, p.Pid())
		for _, f := range frames {
			require.NoError(b, pusher.WriteMessage(websocket.TextMessage, f))
			for { // until the ack; the pusher's empty Live frames are dropped
				_, m, err := pusher.ReadMessage()
				require.NoError(b, err)
				if bytes.Contains(m[:min(len(m), 48)], []byte(`"type":"ack"`)) {
					break
				}
			}
		}
		deadline := time.Now().Add(waitTimeout)
		for got.Load() < want {
			require.True(b, time.Now().Before(deadline), "%d of %d deliveries", got.Load(), want)
			time.Sleep(time.Millisecond)
		}
		cpu := procCPU(b, p.Pid()) - cpu0
		_ = pusher.Close()
		for _, ws := range conns {
			_ = ws.Close()
		}
		readers.Wait()
		return float64(cpu.Microseconds()) / commits
	}
	b.ResetTimer()
	few, many := math.Inf(1), math.Inf(1)
	for range 2 {
		few = min(few, run(10))
		many = min(many, run(1000))
	}
	b.StopTimer()
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("syncd CPU per committed event: %.1f µs with 10 devices, %.1f µs with 1,000 (x_devices %.2f); load %s",
		few, many, many/few, strings.TrimSpace(string(load)))
	b.ReportMetric(few, "cpu_us/commit_10")
	b.ReportMetric(many, "cpu_us/commit_1000")
	b.ReportMetric(many/few, "x_devices")
}
