package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/internal/pgtest"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

const adminSecret = "admin-test-secret-0123456789abcdef"

// served is a syncd run in this process by run.
type served struct {
	addr, admin string // the public and admin listeners' addresses
	stop        func() error
}

// serveInProcess runs syncd with args on loopback ports until stop, which
// returns run's error; the admin address is "" without --admin.
func serveInProcess(t *testing.T, env map[string]string, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	done := make(chan error, 1)
	getenv := func(k string) string {
		if k == envSecret {
			return adminSecret
		}
		return env[k]
	}
	go func() {
		err := run(ctx, append([]string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "error"}, args...), getenv, w)
		_ = w.CloseWithError(io.EOF)
		done <- err
	}()
	s := &served{}
	lines := bufio.NewScanner(r)
	for s.addr == "" {
		if !lines.Scan() {
			cancel()
			require.NoError(t, <-done)
			t.Fatal("syncd ended before listening")
		}
		if a, ok := strings.CutPrefix(lines.Text(), "admin listening on "); ok {
			s.admin = a
		} else if a, ok := strings.CutPrefix(lines.Text(), "listening on "); ok {
			s.addr = a
		}
	}
	go func() { _, _ = io.Copy(io.Discard, r) }()
	var once bool
	var err error
	s.stop = func() error {
		if !once {
			once = true
			cancel()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { _ = s.stop() })
	return s
}

// get returns the status and body of url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: ioTimeout}
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// metric returns the value of the sample named by line's prefix (name
// and labels) in a Prometheus exposition, or -1 when it is missing.
func metric(t *testing.T, exposition, sample string) float64 {
	t.Helper()
	for l := range strings.Lines(exposition) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err, l)
			return f
		}
	}
	return -1
}

func adminToken(t *testing.T) string {
	t.Helper()
	tok, err := hub.IssueToken([]byte(adminSecret), hub.Claims{Tenant: "acme", Subject: "laptop", Expiry: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	return tok
}

// syncOne connects a client to addr, pushes one event and reads its ack
// and its live echo, then disconnects.
func syncOne(t *testing.T, addr string) {
	t.Helper()
	c := dialSyncd(t, addr, adminToken(t), 0)
	require.IsType(t, &protocol.CaughtUp{}, c.recv())
	c.send(&protocol.Push{Batch: "b1", Events: []protocol.Event{newEvent()}})
	c.pullUntil(1)
	require.NoError(t, c.ws.Close())
}

// checkAdmin syncs a client through s and checks what s's listeners
// serve: the metrics moving on the admin one, pprof there and nowhere
// else.
func checkAdmin(t *testing.T, s *served) string {
	t.Helper()
	require.NotEmpty(t, s.admin)
	status, before := get(t, "http://"+s.admin+"/metrics")
	require.Equal(t, http.StatusOK, status)
	assert.Zero(t, metric(t, before, "ferry_hub_push_events_total"))
	assert.Zero(t, metric(t, before, "ferry_hub_connections_opened_total"))

	syncOne(t, s.addr)
	_, resp, err := dialNoToken(s.addr)
	require.Error(t, err)
	_ = resp.Body.Close()

	// The live delay is observed once the hub's write returns, which may
	// be after the client has read the frame: wait for it.
	var after string
	require.Eventually(t, func() bool {
		_, after = get(t, "http://"+s.admin+"/metrics")
		return metric(t, after, "ferry_hub_live_delay_seconds_count") == 1
	}, ioTimeout, 10*time.Millisecond, "the live delay is observed")
	assert.Equal(t, 1.0, metric(t, after, "ferry_hub_push_events_total"))
	assert.Equal(t, 1.0, metric(t, after, "ferry_hub_push_messages_total"))
	assert.Equal(t, 1.0, metric(t, after, "ferry_hub_connections_opened_total"))
	assert.Equal(t, 1.0, metric(t, after, `ferry_hub_connections_refused_total{reason="unauthorized"}`))
	assert.Equal(t, 1.0, metric(t, after, `ferry_hub_pull_events_total{mode="live"}`))
	assert.Equal(t, 1.0, metric(t, after, "ferry_hub_live_delay_seconds_count"))
	assert.Equal(t, 1.0, metric(t, after, "ferry_hub_catchup_lag_events_count"))
	assert.Positive(t, metric(t, after, `ferry_hub_store_duration_seconds_count{op="insert"}`))
	assert.Positive(t, metric(t, after, "ferry_hub_outbound_budget_bytes"))
	assert.Positive(t, metric(t, after, "go_goroutines"))
	assert.Positive(t, metric(t, after, "process_resident_memory_bytes"))
	assert.NotContains(t, after, "acme", "no tenant labels")

	status, body := get(t, "http://"+s.admin+"/debug/pprof/")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "goroutine")
	status, _ = get(t, "http://"+s.admin+"/debug/pprof/goroutine?debug=1")
	assert.Equal(t, http.StatusOK, status)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine", "/metrics"} {
		status, _ := get(t, "http://"+s.addr+path)
		assert.Equal(t, http.StatusNotFound, status, "public %s", path)
	}
	return after
}

// dialNoToken tries /sync without a token.
func dialNoToken(addr string) (any, *http.Response, error) {
	c := http.Client{Timeout: ioTimeout}
	resp, err := c.Get("http://" + addr + "/sync")
	if err == nil && resp.StatusCode != http.StatusOK {
		return nil, resp, errors.New(resp.Status)
	}
	return nil, resp, err
}

func TestAdminMetricsAndPprof(t *testing.T) {
	s := serveInProcess(t, nil, "--admin", "127.0.0.1:0")
	checkAdmin(t, s)
	require.NoError(t, s.stop())
	_, err := http.Get("http://" + s.admin + "/metrics")
	assert.Error(t, err, "the admin listener stops with the server")
}

func TestAdminPostgresPoolMetrics(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, "ferry_syncd_admin_")
	s := serveInProcess(t, nil, "--admin", "127.0.0.1:0", "--postgres", url, "--postgres-schema", schema)
	after := checkAdmin(t, s)
	assert.Positive(t, metric(t, after, "ferry_hub_pg_pool_max_conns"))
	assert.Positive(t, metric(t, after, "ferry_hub_pg_pool_acquires_total"))
	require.NoError(t, s.stop())
}

// TestAdminInspectorAndToken: with --admin-token, every admin page but the
// inspector's own page wants the token; the inspector shows the tenant a
// device just synced to.
func TestAdminInspectorAndToken(t *testing.T) {
	const token = "let-me-in"
	s := serveInProcess(t, nil, "--admin", "127.0.0.1:0", "--admin-token", token)
	syncOne(t, s.addr)
	for _, path := range []string{"/metrics", "/debug/pprof/", "/inspector/api/snapshot"} {
		status, _ := get(t, "http://"+s.admin+path)
		assert.Equal(t, http.StatusUnauthorized, status, "%s without the token", path)
		status, _ = get(t, "http://"+s.admin+path+"?token=wrong")
		assert.Equal(t, http.StatusUnauthorized, status, "%s with a wrong token", path)
		status, _ = get(t, "http://"+s.admin+path+"?token="+token)
		assert.Equal(t, http.StatusOK, status, "%s with the token", path)
	}
	status, page := get(t, "http://"+s.admin+"/inspector?token="+token) // redirected to /inspector/
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, "<html")
	_, snap := get(t, "http://"+s.admin+"/inspector/api/snapshot?token="+token)
	assert.Contains(t, snap, `"acme"`, "the tenant the device synced to")
	status, _ = get(t, "http://"+s.addr+"/inspector/")
	assert.Equal(t, http.StatusNotFound, status, "not on the public listener")
	require.NoError(t, s.stop())
}

func TestAdminOffByDefault(t *testing.T) {
	s := serveInProcess(t, nil)
	assert.Empty(t, s.admin)
	status, _ := get(t, "http://"+s.addr+"/debug/pprof/")
	assert.Equal(t, http.StatusNotFound, status)
	require.NoError(t, s.stop())
}

func TestAdminAddressMustBeLoopback(t *testing.T) {
	cases := map[string]struct {
		args    []string
		env     map[string]string
		wantErr string
	}{
		"loopback v4":       {args: []string{"--admin", "127.0.0.1:9090"}},
		"loopback v6":       {args: []string{"--admin", "[::1]:9090"}},
		"localhost":         {args: []string{"--admin", "localhost:9090"}},
		"all interfaces":    {args: []string{"--admin", "0.0.0.0:9090"}, wantErr: "not a loopback address"},
		"no host":           {args: []string{"--admin", ":9090"}, wantErr: "not a loopback address"},
		"a name":            {args: []string{"--admin", "example.com:9090"}, wantErr: "not a loopback address"},
		"public by flag":    {args: []string{"--admin", "0.0.0.0:9090", "--admin-public"}},
		"public by env":     {args: []string{"--admin", "0.0.0.0:9090"}, env: map[string]string{envAdminPublic: "true"}},
		"bad env":           {args: []string{"--admin", "127.0.0.1:9090"}, env: map[string]string{envAdminPublic: "maybe"}, wantErr: envAdminPublic},
		"address from env":  {env: map[string]string{envAdmin: "10.1.2.3:9090"}, wantErr: "not a loopback address"},
		"malformed address": {args: []string{"--admin", "127.0.0.1"}, wantErr: "--admin"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f, err := parseServe(tc.args, func(k string) string { return tc.env[k] })
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.NotEmpty(t, f.admin.addr)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Equal(t, exitUsage, exitCode(err))
		})
	}
}
