package synctest_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/protocol"
)

// envIdleConns sizes BenchmarkIdleConns (default 10,000).
const envIdleConns = "FERRY_BENCH_IDLE_CONNS"

// idleTenants is the number of tenants BenchmarkIdleConns spreads its
// connections over.
const idleTenants = 10

// BenchmarkIdleConns holds N idle connections (default 10,000,
// FERRY_BENCH_IDLE_CONNS) on one real syncd (embedded SQLite, 10 tenants,
// opened before the baseline is taken):
// each says hello, catches up and then only answers pings, as a device
// that keeps its app open does. It reports syncd's RSS before and with
// them, per connection, and how long a new device's sync takes while they
// are held (target for issue 18: RSS under 400 MB, the new device served
// promptly), with the machine's load.
func BenchmarkIdleConns(b *testing.B) {
	n := benchSize(b, envIdleConns, 10_000)
	ctx := context.Background()
	p := startSyncd(b, nil, "--data-dir", b.TempDir(), "--max-conns", fmt.Sprint(n+100), "--max-conns-per-subject", "4")
	pid := fmt.Sprint(p.Pid())
	rss := func() int64 {
		kb, err := procStatusKB(pid, "VmRSS")
		require.NoError(b, err)
		return kb >> 10
	}
	fresh := func(name string) time.Duration {
		s := openClientStore(b, name)
		_, err := s.Append(ctx, noteWrites("note/1", 10, 100)...)
		require.NoError(b, err)
		rep := replicator(b, s, p.URL(), token(b, "probe", name))
		start := time.Now()
		_, err = rep.SyncOnce(ctx)
		require.NoError(b, err)
		return time.Since(start)
	}
	before := fresh("warm-up")
	for i := range idleTenants { // open the tenants' stores: the baseline holds them
		ws, err := idleConn(p.URL(), token(b, fmt.Sprintf("t%d", i), "warm-up"))
		require.NoError(b, err)
		_ = ws.Close()
	}
	time.Sleep(time.Second)
	base := rss()

	b.ResetTimer()
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 64) // dials in flight
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ws, err := idleConn(p.URL(), token(b, fmt.Sprintf("t%d", i%idleTenants), fmt.Sprintf("d%d", i)))
			if err != nil {
				errs <- fmt.Errorf("connection %d: %w", i, err)
				return
			}
			conns[i] = ws
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
	time.Sleep(2 * time.Second)
	held := rss()
	during := fresh("newcomer")
	b.StopTimer()
	for _, ws := range conns {
		_ = ws.Close()
	}
	load, _ := os.ReadFile("/proc/loadavg")
	perConnKB := float64(held-base) * 1024 / float64(n)
	b.Logf("%d idle connections: syncd RSS %d MB before, %d MB with them (%.1f KB each); a new device's sync took %s before, %s with them; load %s",
		n, base, held, perConnKB, before.Round(time.Millisecond), during.Round(time.Millisecond), strings.TrimSpace(string(load)))
	b.ReportMetric(float64(held), "rss_MB")
	b.ReportMetric(perConnKB, "KB/conn")
	b.ReportMetric(during.Seconds()*1000, "newcomer_ms")
	b.ReportMetric(before.Seconds()*1000, "newcomer_before_ms")
}

// idleConn dials url with tok, says hello, reads until caught up and then
// keeps reading (answering pings) until the connection is closed.
func idleConn(url, tok string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				_ = c.(*net.TCPConn).SetReadBuffer(16 << 10) // spare the machine's kernel memory
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
	hello, err := protocol.Encode(&protocol.Hello{Versions: protocol.Versions(), Client: "idle", Cursor: 0})
	if err == nil {
		err = ws.WriteMessage(websocket.TextMessage, hello)
	}
	for err == nil {
		var frame []byte
		_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, frame, err = ws.ReadMessage(); err == nil && strings.Contains(string(frame), `"caught_up"`) {
			break
		}
	}
	if err != nil {
		_ = ws.Close()
		return nil, err
	}
	_ = ws.SetReadDeadline(time.Time{})
	go func() { // the pings' handler runs inside reads
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	return ws, nil
}
