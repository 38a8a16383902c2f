package synctest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/hub/tenants"
	"github.com/ferrysync/ferry/sync/protocol"
)

// Sizes of BenchmarkNonReaders, overridable for quick runs.
const (
	envNonReaders      = "FERRY_BENCH_NONREADERS"        // connections, default 200
	envNonReaderLedger = "FERRY_BENCH_NONREADER_MB"      // the ledger's payload in MB, default 330
	envNonReaderSecs   = "FERRY_BENCH_NONREADER_SECONDS" // the attack's length, default 30
	envNonReaderAfter  = "FERRY_BENCH_NONREADER_AFTER"   // seconds waited after it, default 20
)

// BenchmarkNonReaders is the attack of issue 14 on a real syncd (embedded
// SQLite) over loopback: N connections (default 200, FERRY_BENCH_NONREADERS)
// with valid tokens say hello with cursor 0 to a tenant whose ledger holds
// about 330 MB (FERRY_BENCH_NONREADER_MB), then never read; each hangs up
// after a few seconds and does it again, for 30 s. Meanwhile an honest
// device of another tenant syncs (pushes 10 events, pulls) over and over.
// It reports syncd's RSS before, at its peak and after the attack (once
// the attackers are gone for FERRY_BENCH_NONREADER_AFTER seconds), the
// honest syncs that succeeded and the slowest, and the machine's load.
func BenchmarkNonReaders(b *testing.B) {
	conns := benchSize(b, envNonReaders, 200)
	ledgerMB := benchSize(b, envNonReaderLedger, 330)
	attack := time.Duration(benchSize(b, envNonReaderSecs, 30)) * time.Second
	after := time.Duration(benchSize(b, envNonReaderAfter, 20)) * time.Second
	ctx := context.Background()

	dataDir := b.TempDir()
	seedStart := time.Now()
	seedLedger(b, filepath.Join(dataDir, "tenants"), "acme", ledgerMB<<20)
	b.Logf("seeded %d MB in %s", ledgerMB, time.Since(seedStart).Round(time.Millisecond))
	p := startSyncd(b, nil, "--data-dir", dataDir)
	pid := p.Pid()
	rss := func() int64 {
		kb, err := procStatusKB(fmt.Sprint(pid), "VmRSS")
		require.NoError(b, err)
		return kb >> 10
	}

	honest := openClientStore(b, "honest-dev")
	rep := replicator(b, honest, p.URL(), token(b, "honest", "honest-dev"))
	_, err := rep.SyncOnce(ctx) // the tenant's store is opened before the measure
	require.NoError(b, err)
	time.Sleep(time.Second)
	before := rss()

	b.ResetTimer()
	var peak atomic.Int64
	stop := make(chan struct{})
	var sampler, wg sync.WaitGroup
	sampler.Add(1)
	go func() { // samples syncd's RSS
		defer sampler.Done()
		for {
			peak.Store(max(peak.Load(), rss()))
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	var dials, refused atomic.Int64
	end := time.Now().Add(attack)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := token(b, "acme", fmt.Sprintf("attacker-%d", i))
			for time.Now().Before(end) {
				dials.Add(1)
				if !nonReader(p.URL(), tok, min(time.Until(end), time.Duration(2000+rand.IntN(3000))*time.Millisecond)) {
					refused.Add(1)
					time.Sleep(time.Second)
				}
			}
		}()
	}

	var syncs, failed int
	var slowest time.Duration
	var lastErr error
	for time.Now().Before(end) {
		_, err := honest.Append(ctx, noteWrites("note/1", 10, 100)...)
		require.NoError(b, err)
		sctx, cancel := context.WithTimeout(ctx, waitTimeout)
		start := time.Now()
		_, err = rep.SyncOnce(sctx)
		cancel()
		slowest = max(slowest, time.Since(start))
		syncs++
		if err != nil {
			failed++
			lastErr = err
		}
		time.Sleep(500 * time.Millisecond)
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	b.StopTimer()
	atEnd := rss()
	time.Sleep(after)
	afterMB := rss()
	hwm, err := procStatusKB(fmt.Sprint(pid), "VmHWM")
	require.NoError(b, err)
	load, _ := os.ReadFile("/proc/loadavg")

	b.Logf("syncd RSS: before %d MB, peak %d MB (VmHWM %d MB), at the end %d MB, %s after %d MB; honest syncs %d/%d (slowest %s, last error %v); attacker dials %d (%d refused or failed); load %s",
		before, peak.Load(), hwm>>10, atEnd, after, afterMB, syncs-failed, syncs, slowest.Round(time.Millisecond), lastErr,
		dials.Load(), refused.Load(), strings.TrimSpace(string(load)))
	b.ReportMetric(float64(before), "rss_before_MB")
	b.ReportMetric(float64(peak.Load()), "rss_peak_MB")
	b.ReportMetric(float64(afterMB), "rss_after_MB")
	b.ReportMetric(float64(syncs-failed)/float64(syncs), "honest_ok")
	b.ReportMetric(slowest.Seconds(), "honest_slowest_s")
	require.Zero(b, failed, "honest syncs failed: %v", lastErr)
}

// nonReader dials url with tok, says hello with cursor 0 and reads nothing
// for hold, then hangs up. It reports false when the hub refused it.
func nonReader(url, tok string, hold time.Duration) bool {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(64 << 10) // spare the machine's kernel memory
		}
		return c, err
	}}
	ws, resp, err := d.Dial(url, http.Header{"Authorization": {"Bearer " + tok}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return false
	}
	defer ws.Close()
	hello, err := protocol.Encode(&protocol.Hello{Versions: protocol.Versions(), Client: "non-reader", Cursor: 0})
	if err != nil || ws.WriteMessage(websocket.TextMessage, hello) != nil {
		return false
	}
	time.Sleep(hold)
	return true
}

// seedLedger writes about size bytes of payload into tenant's ledger in
// dir, as syncd's embedded SQLite backend lays it out: events of 2 KB.
func seedLedger(b testing.TB, dir, tenant string, size int) {
	pool, err := tenants.SQLite(dir, tenants.Options{})
	require.NoError(b, err)
	defer pool.Close()
	ctx := context.Background()
	l, release, err := pool.Acquire(ctx, tenant)
	require.NoError(b, err)
	defer release()
	clock := eventstore.NewClock()
	pad := strings.Repeat("x", 2<<10)
	batch := make([]eventstore.Event, 0, 1000)
	for n, i := 0, 0; n < size; i++ {
		e := eventstore.Event{
			ID: eventstore.NewID(), Stream: fmt.Sprintf("item/%d", i%1000), Type: "item:added",
			Data:    fmt.Appendf(nil, `{"n":%d,"pad":%q}`, i, pad),
			Created: clock.Now(), Origin: "seed",
		}
		n += len(e.Data)
		batch = append(batch, e)
		if len(batch) == cap(batch) || n >= size {
			_, err := l.Insert(ctx, batch...)
			require.NoError(b, err)
			batch = batch[:0]
		}
	}
}
