package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/pgtest"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/protocol"
	"github.com/ferrysync/ferry/sync/synctest"
)

const ioTimeout = 30 * time.Second

// bins builds syncd once per test run.
var bins = testutil.Binaries{Packages: []string{"github.com/ferrysync/ferry/cmd/syncd"}}

// TestMain removes the built binary after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	bins.Remove()
	os.Exit(code)
}

// syncdBinary returns the built syncd.
func syncdBinary(t *testing.T) string { return bins.Path(t, "syncd") }

// startSyncd starts syncd with args on a free loopback port and waits for
// its "listening on" line; it is killed when the test ends.
func startSyncd(t *testing.T, env []string, args ...string) *synctest.Syncd {
	t.Helper()
	p := &synctest.Syncd{Bin: syncdBinary(t), Args: args, Env: env}
	p.Run(t)
	return p
}

// runCmd runs syncd to completion and returns stdout, stderr and the error.
func runCmd(t *testing.T, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(syncdBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// wsClient is a minimal protocol client.
type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialSyncd(t *testing.T, addr, tok string, cursor int64) *wsClient {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/sync", http.Header{"Authorization": {"Bearer " + tok}})
	require.NoError(t, err)
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	c := &wsClient{t: t, ws: ws}
	c.send(&protocol.Hello{Versions: protocol.Versions(), Client: "test", Cursor: cursor})
	_, ok := c.recv().(*protocol.Welcome)
	require.True(t, ok)
	return c
}

func (c *wsClient) send(m protocol.Message) {
	frame, err := protocol.Encode(m)
	require.NoError(c.t, err)
	require.NoError(c.t, c.ws.WriteMessage(websocket.TextMessage, frame))
}

// recv returns the next message, or nil with the close error in c.err.
func (c *wsClient) recv() protocol.Message {
	m, err := c.next()
	require.NoError(c.t, err)
	return m
}

func (c *wsClient) next() (protocol.Message, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(ioTimeout))
	_, frame, err := c.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	return protocol.Decode(frame, protocol.Limits{})
}

// pullUntil reads until n events were pulled and returns them.
func (c *wsClient) pullUntil(n int) []protocol.Event {
	var out []protocol.Event
	for len(out) < n {
		switch m := c.recv().(type) {
		case *protocol.Events:
			out = append(out, m.Events...)
		case *protocol.Live:
			out = append(out, m.Events...)
		}
	}
	return out
}

func newEvent() protocol.Event {
	return protocol.Event{ID: eventstore.NewID(), Stream: "task/1", Type: "task:created",
		Data: []byte(`{"title":"milk"}`), Created: protocol.Timestamp(eventstore.TimestampOf(time.Now())), Origin: "test"}
}

// getToken runs syncd token.
func getToken(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, errOut, err := runCmd(t, env, append([]string{"token"}, args...)...)
	require.NoError(t, err, errOut)
	tok := strings.TrimSpace(out)
	require.Equal(t, 2, strings.Count(tok, "."), "stdout holds only the token: %q", out)
	return tok
}

func TestSyncdEmbeddedServeTokenShutdownRestart(t *testing.T) {
	dir := t.TempDir()
	p := startSyncd(t, nil, "--data-dir", dir)
	base := "http://" + p.Addr
	assert.Equal(t, http.StatusOK, testutil.HTTPStatus(t, base+"/healthz"))
	assert.Equal(t, http.StatusOK, testutil.HTTPStatus(t, base+"/readyz"))
	assert.Equal(t, http.StatusUnauthorized, testutil.HTTPStatus(t, base+"/sync"))

	info, err := os.Stat(filepath.Join(dir, "secret"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	assert.Contains(t, p.Stderr(), "generated a token signing secret")

	tok := getToken(t, nil, "--data-dir", dir, "--tenant", "acme", "--subject", "laptop", "--ttl", "1h")
	c := dialSyncd(t, p.Addr, tok, 0)
	require.IsType(t, &protocol.CaughtUp{}, c.recv())
	e := newEvent()
	c.send(&protocol.Push{Batch: "b1", Events: []protocol.Event{e}})
	var ack *protocol.Ack
	for ack == nil {
		if a, ok := c.recv().(*protocol.Ack); ok {
			ack = a
		}
	}
	assert.Equal(t, int64(1), ack.Results[0].HubPosition)

	// SIGTERM: the client is told to go away and resume; syncd exits 0.
	require.NoError(t, p.Stop(), p.Stderr())
	var closeErr *websocket.CloseError
	for {
		_, err := c.next()
		if err != nil {
			require.ErrorAs(t, err, &closeErr)
			break
		}
	}
	assert.Equal(t, protocol.CloseGoingAway, closeErr.Code)

	// The ledger survives the restart; a client resumes from cursor 0.
	p2 := startSyncd(t, nil, "--data-dir", dir)
	c2 := dialSyncd(t, p2.Addr, tok, 0)
	got := c2.pullUntil(1)
	assert.Equal(t, e.ID, got[0].ID)
	assert.Equal(t, int64(1), got[0].HubPosition)
	require.NoError(t, p2.Stop())
}

func TestSyncdSecretFromEnvAndFile(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "my-secret")
	require.NoError(t, os.WriteFile(secretFile, []byte("file-secret-0123456789\n"), 0o600))
	p := startSyncd(t, nil, "--data-dir", dir, "--secret-file", secretFile)
	ok := getToken(t, nil, "--secret-file", secretFile, "--tenant", "acme", "--streams", "task/,note/")
	dialSyncd(t, p.Addr, ok, 0)
	other := getToken(t, []string{"FERRY_SECRET=env-secret-0123456789"}, "--tenant", "acme")
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+p.Addr+"/sync", http.Header{"Authorization": {"Bearer " + other}})
	require.Error(t, err)
	require.NotNil(t, resp)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	_, err = os.Stat(filepath.Join(dir, "secret"))
	assert.ErrorIs(t, err, os.ErrNotExist, "no secret generated when one is given")
	require.NoError(t, p.Stop())
}

func TestSyncdCannotStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	cases := map[string]struct {
		args []string
		code int
	}{
		"port taken":            {[]string{"--listen", ln.Addr().String()}, 1},
		"database unreachable":  {[]string{"--postgres", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}, 1},
		"bad flag":              {[]string{"--no-such-flag"}, 2},
		"unknown command":       {[]string{"serve-all"}, 2},
		"half tls":              {[]string{"--tls-cert", "cert.pem"}, 2},
		"bad log level":         {[]string{"--log-level", "loud"}, 2},
		"token without tenant":  {[]string{"token"}, 2},
		"token bad flag":        {[]string{"token", "--tenant", "t", "--no-such-flag"}, 2},
		"no open tenants":       {[]string{"--max-open-tenants", "0"}, 2},
		"bad open tenants env":  {[]string{"FERRY_MAX_OPEN_TENANTS=lots"}, 2},
		"bad clock offset env":  {[]string{"FERRY_CLOCK_OFFSET=soon"}, 2},
		"send buffer too small": {[]string{"--send-buffer", "1KiB"}, 1},
		"bad send buffer env":   {[]string{"FERRY_CONN_SEND_BUFFER=12x"}, 2},
		"no conns":              {[]string{"--max-conns-per-subject", "0"}, 2},
		"bad page cache":        {[]string{"--sqlite-page-cache", "private"}, 2},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var env []string
			args := tc.args
			if strings.Contains(args[0], "=") {
				env, args = args[:1], args[1:]
			}
			out, errOut, err := runCmd(t, env, append(args, "--data-dir", dir)...)
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit)
			assert.Equal(t, tc.code, exit.ExitCode(), errOut)
			assert.Empty(t, out)
			msg := strings.TrimSpace(errOut[strings.LastIndex(errOut, "syncd: "):])
			assert.NotContains(t, msg, "\n", "one line")
			for _, prefix := range []string{"syncd: ", "postgres: ", "token: ", "secret: ", "serve: ", "tls: ", "hub: ", "tenants: "} {
				assert.LessOrEqual(t, strings.Count(msg, prefix), 1, "prefix %q once in %q", prefix, msg)
			}
			_, err = os.Stat(filepath.Join(dir, "secret"))
			assert.ErrorIs(t, err, os.ErrNotExist, "no secret written when syncd does not start")
		})
	}
}

// syncd token takes the server's flags, and ignores those it does not need.
func TestSyncdTokenTakesServerFlags(t *testing.T) {
	dir := t.TempDir()
	server := []string{"--data-dir", dir, "--listen", "127.0.0.1:0", "--postgres", "", "--max-open-tenants", "5",
		"--node-id", "n1", "--log-level", "warn"}
	tok := getToken(t, []string{"FERRY_MAX_OPEN_TENANTS=lots"}, append(server, "--tenant", "acme")...)
	p := startSyncd(t, nil, server...)
	dialSyncd(t, p.Addr, tok, 0)
	require.NoError(t, p.Stop())
}

// TestSyncdTwoNodesPostgres runs two syncd processes on one PostgreSQL: a
// client of node 1 writes, a client of node 2 sees it live.
func TestSyncdTwoNodesPostgres(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, "ferry_syncd_test_")
	env := []string{"FERRY_POSTGRES_URL=" + url, "FERRY_POSTGRES_SCHEMA=" + schema, "FERRY_SECRET=shared-secret-0123456789"}
	n1 := startSyncd(t, env, "--data-dir", t.TempDir(), "--node-id", "n1")
	n2 := startSyncd(t, env, "--data-dir", t.TempDir(), "--node-id", "n2")
	assert.Equal(t, http.StatusOK, testutil.HTTPStatus(t, "http://"+n2.Addr+"/readyz"))
	tok := getToken(t, env, "--tenant", "acme")

	reader := dialSyncd(t, n2.Addr, tok, 0)
	require.IsType(t, &protocol.CaughtUp{}, reader.recv())
	writer := dialSyncd(t, n1.Addr, tok, 0)
	e := newEvent()
	writer.send(&protocol.Push{Batch: "b1", Events: []protocol.Event{e}})
	got := reader.pullUntil(1)
	assert.Equal(t, e.ID, got[0].ID)
	require.NoError(t, n1.Stop())
	require.NoError(t, n2.Stop())
}

// oneLine keeps each distinct line of a message once (pgx repeats a line
// per attempt) and joins a line ending in ":" to the next with a space.
func TestOneLine(t *testing.T) {
	assert.Equal(t, "connect: a refused; b refused", oneLine("connect:\n  a refused\n  b refused\n  a refused\n"))
	assert.Equal(t, "plain", oneLine("plain"))
}
