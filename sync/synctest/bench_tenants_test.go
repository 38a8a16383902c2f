package synctest_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
	"github.com/ferrysync/ferry/sync/synctest"
)

// Sizes of BenchmarkTenantIngest, overridable for quick runs.
const (
	envIngestTenants = "FERRY_BENCH_INGEST_TENANTS" // tenants (one pushing connection each), default 16
	envIngestEvents  = "FERRY_BENCH_INGEST_EVENTS"  // events per tenant, default 10,000
	envIngestProcs   = "FERRY_BENCH_INGEST_PROCS"   // the larger GOMAXPROCS, default 2
	// envIngestProfile names a directory where the runs at the larger
	// GOMAXPROCS write syncd's CPU, mutex and block profiles.
	envIngestProfile = "FERRY_BENCH_INGEST_PROFILE"
)

// ingestBatch is the events per push of BenchmarkTenantIngest.
const ingestBatch = 250

// ingestInFlight is the pushes a BenchmarkTenantIngest connection keeps in
// flight, as a client's Config.Pipeline does.
const ingestInFlight = 4

// BenchmarkTenantIngest measures whether ingest into independent tenants
// scales with the hub's cores: T connections (default 16) of T tenants push
// N events each (default 10,000, in pushes of 250, 4 in flight) into one
// real syncd on embedded SQLite, first with GOMAXPROCS=1, then with
// GOMAXPROCS=P (default 2), each on a fresh data directory, alternating
// twice. The pushers send frames encoded beforehand and only count the
// frames they get back, so the hub's work dominates. It reports events/s
// at each setting and x_cores, their ratio (target for issue 18: at least
// 1.8 at P=2, 5 at P=8 where the machine has the cores), and the hub's CPU
// time per event at each, with x_cpu their ratio: a lock that serialised
// tenants would show as CPU per event growing with cores, while on a
// machine whose cores the pushers share x_cores is bounded by the cores
// left to the hub. That bound is measured in the same run: the tenants
// spread over P syncd processes at GOMAXPROCS=1, which share nothing at
// all, give x_apart (and x_cpu_apart, their CPU per event over one
// process's), and of_apart is x_cores over it (1: one process scales as
// well as separate ones). With FERRY_BENCH_INGEST_PROFILE=DIR the runs at
// P write syncd's CPU, mutex and block profiles there (syncd
// --admin-contention).
func BenchmarkTenantIngest(b *testing.B) {
	tenants := benchSize(b, envIngestTenants, 16)
	perTenant := benchSize(b, envIngestEvents, 10_000)
	procs := benchSize(b, envIngestProcs, 2)
	frames := make([][][]byte, tenants) // per tenant, the push frames
	clock := eventstore.NewClock()
	for t := range frames {
		for i := 0; i < perTenant; i += ingestBatch {
			var evs []protocol.Event
			for j := i; j < min(i+ingestBatch, perTenant); j++ {
				evs = append(evs, protocol.FromStored(itemEvent(clock, j)))
			}
			f, err := protocol.Encode(&protocol.Push{Batch: fmt.Sprintf("b%d", i), Events: evs})
			require.NoError(b, err)
			frames[t] = append(frames[t], f)
		}
	}
	profDir := os.Getenv(envIngestProfile)
	// run returns the events/s and the hubs' CPU µs per event with the
	// tenants spread over hubs syncd processes, each at gomaxprocs.
	run := func(gomaxprocs, hubs int) (float64, float64) {
		ps := make([]*synctest.Syncd, hubs)
		for h := range ps {
			args := []string{"--data-dir", b.TempDir(), "--max-open-tenants", fmt.Sprint(tenants + 10)}
			if profDir != "" { // contention profiling costs CPU of its own
				args = append(args, "--admin", "127.0.0.1:0", "--admin-contention")
			}
			ps[h] = startSyncd(b, []string{fmt.Sprintf("GOMAXPROCS=%d", gomaxprocs)}, args...)
			defer func() { _ = ps[h].Kill() }()
		}
		conns := make([]*websocket.Conn, tenants)
		for t := range conns {
			ws, err := ingestConn(ps[t%hubs].URL(), token(b, fmt.Sprintf("ingest-%d", t), "pusher"))
			require.NoError(b, err)
			conns[t] = ws
			defer ws.Close()
		}
		var profiled sync.WaitGroup
		if profDir != "" && gomaxprocs > 1 {
			profiled.Go(func() { saveProfiles(b, ps[0].AdminAddr(), profDir, "ingest") })
		}
		cpus := func() (d time.Duration) {
			for _, p := range ps {
				d += procCPU(b, p.Pid())
			}
			return d
		}
		cpu0 := cpus()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, tenants)
		for t, ws := range conns {
			wg.Go(func() {
				if err := pushAll(ws, frames[t]); err != nil {
					errs <- fmt.Errorf("tenant %d: %w", t, err)
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		cpu := cpus() - cpu0
		close(errs)
		for err := range errs {
			require.NoError(b, err)
		}
		profiled.Wait()
		n := float64(tenants * perTenant)
		return n / elapsed.Seconds(), float64(cpu.Microseconds()) / n
	}
	b.ResetTimer()
	var one, many, apart, cpuOne, cpuMany, cpuApart []float64
	for range 2 {
		r, c := run(1, 1)
		one, cpuOne = append(one, r), append(cpuOne, c)
		r, c = run(procs, 1)
		many, cpuMany = append(many, r), append(cpuMany, c)
		r, c = run(1, procs)
		apart, cpuApart = append(apart, r), append(cpuApart, c)
	}
	b.StopTimer()
	best := func(xs []float64) float64 { return max(xs[0], xs[1]) }
	least := func(xs []float64) float64 { return min(xs[0], xs[1]) }
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("%d tenants x %d events: GOMAXPROCS=1 %.0f / %.0f events/s (hub %.1f / %.1f cpu µs/event), GOMAXPROCS=%d %.0f / %.0f events/s (%.1f / %.1f µs/event), %d processes at GOMAXPROCS=1 %.0f / %.0f events/s (%.1f / %.1f µs/event); x_cores %.2f, x_apart %.2f (x_cores of tenants sharing no process: this machine's ceiling), x_cpu %.2f; %d cores here; load %s",
		tenants, perTenant, one[0], one[1], cpuOne[0], cpuOne[1], procs, many[0], many[1], cpuMany[0], cpuMany[1],
		procs, apart[0], apart[1], cpuApart[0], cpuApart[1],
		best(many)/best(one), best(apart)/best(one), least(cpuMany)/least(cpuOne), runtime.NumCPU(), strings.TrimSpace(string(load)))
	b.ReportMetric(best(one), "events/s_1")
	b.ReportMetric(best(many), fmt.Sprintf("events/s_%d", procs))
	b.ReportMetric(best(many)/best(one), "x_cores")
	b.ReportMetric(best(apart)/best(one), "x_apart")
	b.ReportMetric(best(many)/best(apart), "of_apart")
	b.ReportMetric(least(cpuMany)/least(cpuOne), "x_cpu")
	b.ReportMetric(least(cpuApart)/least(cpuOne), "x_cpu_apart")
}

// procCPU returns the CPU time (user and system) process pid has used.
func procCPU(b testing.TB, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(b, err)
	// Fields after the command name (which may hold spaces) in parentheses:
	// utime and stime are the 12th and 13th, in clock ticks (100 Hz).
	rest := string(raw[strings.LastIndexByte(string(raw), ')')+2:])
	f := strings.Fields(rest)
	utime, err := strconv.ParseInt(f[11], 10, 64)
	require.NoError(b, err)
	stime, err := strconv.ParseInt(f[12], 10, 64)
	require.NoError(b, err)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// saveProfiles writes a 1 s CPU profile of the process serving admin, then
// its mutex and block profiles, into dir, their names starting with prefix.
func saveProfiles(b testing.TB, admin, dir, prefix string) {
	time.Sleep(100 * time.Millisecond)
	for _, name := range []string{"profile?seconds=1", "mutex", "block"} {
		resp, err := http.Get("http://" + admin + "/debug/pprof/" + name)
		if err != nil {
			b.Logf("profile %s: %v", name, err)
			return
		}
		path := filepath.Join(dir, prefix+"-"+strings.Split(name, "?")[0]+".pb.gz")
		out, err := os.Create(path)
		if err == nil {
			_, err = io.Copy(out, resp.Body)
			err = errors.Join(err, out.Close())
		}
		_ = resp.Body.Close()
		if err != nil {
			b.Logf("profile %s: %v", name, err)
			return
		}
	}
}

// ingestConn dials url with tok, says hello with cursor 0 and reads until
// caught up.
func ingestConn(url, tok string) (*websocket.Conn, error) {
	ws, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer " + tok}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	hello, err := protocol.Encode(&protocol.Hello{Versions: protocol.Versions(), Client: "pusher"})
	if err == nil {
		err = ws.WriteMessage(websocket.TextMessage, hello)
	}
	for err == nil {
		var frame []byte
		if _, frame, err = ws.ReadMessage(); err == nil && strings.Contains(string(frame), `"caught_up"`) {
			return ws, nil
		}
	}
	_ = ws.Close()
	return nil, err
}

// pushAll sends frames with ingestInFlight pushes in flight and returns
// once every push is acked; Live frames (the pushed events coming back)
// are read and dropped.
func pushAll(ws *websocket.Conn, frames [][]byte) error {
	sent, acked := 0, 0
	for acked < len(frames) {
		for sent < len(frames) && sent-acked < ingestInFlight {
			if err := ws.WriteMessage(websocket.TextMessage, frames[sent]); err != nil {
				return err
			}
			sent++
		}
		_ = ws.SetReadDeadline(time.Now().Add(time.Minute))
		_, frame, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		head := frame[:min(len(frame), 48)]
		switch {
		case strings.Contains(string(head), `"type":"ack"`):
			if strings.Contains(string(frame), `"code"`) {
				return fmt.Errorf("a push was rejected: %.300s", frame)
			}
			acked++
		case strings.Contains(string(head), `"type":"error"`):
			return fmt.Errorf("hub error: %.300s", frame)
		}
	}
	return nil
}
