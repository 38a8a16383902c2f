package synctest_test

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/postgres"
	"github.com/ferrysync/ferry/sync/synctest"
)

// envChaosReplay replays a chaos run's schedule, as -chaos.seed does.
const envChaosReplay = "FERRY_CHAOS_SEED"

var chaosSeedFlag = flag.Int64("chaos.seed", 0, "seed of TestChaos's fault schedule (0: "+envChaosReplay+", else random)")

// chaosPhase is how long faults are injected: with set-up and the final
// convergence the test takes about 10 s (15 s under the race detector).
var chaosPhase = map[bool]time.Duration{false: 6 * time.Second, true: 9 * time.Second}[raceEnabled]

// chaosSeed returns the seed of this run: the flag, the environment, or a
// fresh one.
func chaosSeed(t *testing.T) int64 {
	t.Helper()
	if *chaosSeedFlag != 0 {
		return *chaosSeedFlag
	}
	if v := os.Getenv(envChaosReplay); v != "" {
		seed, err := strconv.ParseInt(v, 10, 64)
		require.NoError(t, err, "%s", envChaosReplay)
		return seed
	}
	return time.Now().UnixNano()
}

// chaosNode is one syncd process and the proxy the clients reach it
// through.
type chaosNode struct {
	syncd *synctest.Syncd
	proxy *synctest.Proxy
	// app is the application_name of the node's PostgreSQL connections,
	// which tells its LISTEN connection apart from every other process's.
	app string
}

// url is the node's WebSocket endpoint behind its proxy.
func (n *chaosNode) url() string { return "ws://" + n.proxy.Addr() + "/sync" }

// chaosRun is the state of one TestChaos run.
type chaosRun struct {
	t       *testing.T
	plan    chaosPlan
	nodes   []*chaosNode
	clients []*chaosClient
	pg      *pgx.Conn // the test's own connection, for pg_terminate_backend
	hub     eventstore.Store

	mu       sync.Mutex
	done     map[faultKind]int
	cut      int // connections reset by cuts
	dropped  int // LISTEN connections terminated
	failures []error
}

// Two syncd nodes share one PostgreSQL schema; four client processes write
// and sync through in-test proxies while a seeded schedule kills nodes and
// clients with SIGKILL, cuts and stalls connections and terminates the
// nodes' LISTEN connections; one client's wall clock is minutes off. Then
// the faults stop, everything heals and the clients converge live. At the
// end no event is lost or duplicated, the hub's positions have no gap,
// every replica holds exactly the hub's events of its scope at the hub's
// positions, every replica's digest (kept and recomputed) equals the hub's
// for its scope, and every device's own events sort after everything it
// held when it wrote them.
//
// A failure prints the seed; -chaos.seed N (or FERRY_CHAOS_SEED=N) replays
// the same schedule.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes")
	}
	pgURL := synctest.PostgresURL(t)
	schema := synctest.FreshSchema(t)
	seed := chaosSeed(t)
	plan := planChaos(seed, chaosPhase, 2, 4)
	t.Logf("chaos seed %d (skew %s, %d steps over %s)", seed, plan.Skew, len(plan.Faults), chaosPhase)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos seed %d: replay with -chaos.seed=%d or %s=%d", seed, seed, envChaosReplay, seed)
		}
	})
	start := time.Now()
	run := &chaosRun{t: t, plan: plan, done: map[faultKind]int{}}
	run.startNodes(pgURL, schema)
	run.openHub(pgURL, schema)
	run.startClients()

	run.inject()
	t.Logf("chaos phase done in %s: %v, %d connections cut, %d listeners terminated",
		time.Since(start).Round(time.Millisecond), run.done, run.cut, run.dropped)
	require.Empty(t, run.failures, "faults that could not be injected")
	run.heal()
	head := run.converge()
	t.Logf("converged at head %d in %s", head, time.Since(start).Round(time.Millisecond))
	run.check(head)
	t.Logf("chaos run took %s", time.Since(start).Round(time.Millisecond))
}

// startNodes starts both syncd nodes, each behind a proxy.
func (r *chaosRun) startNodes(pgURL, schema string) {
	t := r.t
	id := strings.ToLower(eventstore.NewID())
	for i := range 2 {
		app := fmt.Sprintf("fc-%s-n%d", id, i)
		u, err := url.Parse(pgURL)
		require.NoError(t, err)
		q := u.Query()
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		p := startSyncd(t, nil, "--data-dir", t.TempDir(), "--postgres", u.String(), "--postgres-schema", schema,
			"--node-id", fmt.Sprintf("n%d", i))
		proxy, err := synctest.StartProxy(context.Background(), p.Addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = proxy.Close() })
		r.nodes = append(r.nodes, &chaosNode{syncd: p, proxy: proxy, app: app})
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	r.pg = conn
}

// openHub opens the hub's ledger for the checks.
func (r *chaosRun) openHub(pgURL, schema string) {
	db, err := postgres.Open(context.Background(), pgURL, postgres.Options{Schema: schema, MaxConns: 2})
	require.NoError(r.t, err)
	r.t.Cleanup(db.Close)
	s, err := db.Store("acme", eventstore.Config{})
	require.NoError(r.t, err)
	r.hub = s
}

// skewOffline is how long the skewed client writes before it first
// connects (and learns the hub's time).
const skewOffline = 300 * time.Millisecond

// startClients starts the four devices: one with the whole tenant, one
// with a skewed wall clock that writes offline first, one whose token covers "team-a/" only, one
// that narrows its pulls to "team-b/" (Config.Streams) but writes
// everywhere.
func (r *chaosRun) startClients() {
	t := r.t
	dir := t.TempDir()
	all := []string{"list/", "team-a/", "team-b/"}
	r.clients = []*chaosClient{
		{name: "dev-all", writes: all},
		{name: "dev-skew", writes: all, skew: r.plan.Skew, offline: skewOffline},
		{name: "dev-scoped", writes: []string{"team-a/"}, scope: []string{"team-a/"}},
		{name: "dev-narrow", writes: all, streams: []string{"team-b/"}, scope: []string{"team-b/"}},
	}
	for i, c := range r.clients {
		c.db = filepath.Join(dir, c.name+".db")
		if c.name == "dev-scoped" {
			c.token = token(t, "acme", c.name, c.scope...)
		} else {
			c.token = token(t, "acme", c.name)
		}
		require.NoError(t, c.start(r.nodes[r.plan.Nodes[i]].url(), r.plan.Seeds[i]))
		t.Cleanup(func() {
			if c.running() {
				_ = c.kill()
			}
			if t.Failed() {
				c.mu.Lock()
				t.Logf("%s stderr (tail):\n%s", c.name, tail(c.stderr.String(), 4000))
				c.mu.Unlock()
			}
		})
	}
}

// inject runs the plan's faults, each at its offset from now.
func (r *chaosRun) inject() {
	start := time.Now()
	for _, f := range r.plan.Faults {
		time.Sleep(time.Until(start.Add(f.At)))
		if err := r.apply(f); err != nil {
			r.failures = append(r.failures, fmt.Errorf("%s: %w", f, err))
		}
		r.done[f.Kind]++
	}
	time.Sleep(time.Until(start.Add(chaosPhase)))
}

// apply runs one fault.
func (r *chaosRun) apply(f fault) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	switch f.Kind {
	case killNode:
		return r.nodes[f.Target].syncd.Kill()
	case startNode:
		return r.nodes[f.Target].syncd.Start(ctx)
	case killClient:
		return r.clients[f.Target].kill()
	case startClient:
		return r.clients[f.Target].start(r.nodes[f.Node].url(), f.Seed)
	case cutProxy:
		r.cut += r.nodes[f.Target].proxy.Cut()
	case pauseProxy:
		r.nodes[f.Target].proxy.Pause()
	case resumeProxy:
		r.nodes[f.Target].proxy.Resume()
	case dropListen:
		n, err := r.terminateListen(ctx, r.nodes[f.Target])
		r.dropped += n
		return err
	}
	return nil
}

// terminateListen terminates the node's LISTEN connection with
// pg_terminate_backend and returns how many backends it terminated.
func (r *chaosRun) terminateListen(ctx context.Context, n *chaosNode) (int, error) {
	var count int
	err := r.pg.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE application_name = $1 AND query LIKE 'LISTEN %' AND pg_terminate_backend(pid)`, n.app).Scan(&count)
	return count, err
}

// listening counts the node's LISTEN connections.
func (r *chaosRun) listening(ctx context.Context, n *chaosNode) (int, error) {
	var count int
	err := r.pg.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE application_name = $1 AND query LIKE 'LISTEN %'`, n.app).Scan(&count)
	return count, err
}

// heal ends every fault: nodes and clients run, proxies relay, and each
// node's listener is back.
func (r *chaosRun) heal() {
	t := r.t
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, n := range r.nodes {
		n.proxy.Resume()
		if n.syncd.Pid() == 0 {
			require.NoError(t, n.syncd.Start(ctx), n.syncd.Stderr())
		}
	}
	for i, c := range r.clients {
		if !c.running() {
			require.NoError(t, c.start(r.nodes[i%2].url(), uint64(i)))
		}
	}
	for _, n := range r.nodes {
		require.Eventually(t, func() bool {
			k, err := r.listening(ctx, n)
			return err == nil && k == 1
		}, waitTimeout, 20*time.Millisecond, "%s's listener reconnected after pg_terminate_backend", n.app)
	}
}

// converge stops the clients' writes and waits until each has pushed
// everything and pulled up to the hub's head, live; then it ends them and
// returns the head.
func (r *chaosRun) converge() int64 {
	t := r.t
	for _, c := range r.clients {
		require.NoError(t, c.stop())
	}
	wait := func(what string, ok func(c *chaosClient, st childStatus) bool) {
		for _, c := range r.clients {
			require.Eventually(t, func() bool {
				st, stopped, errs := c.snapshot()
				return len(errs) > 0 || stopped && st.ok && ok(c, st)
			}, waitTimeout, 10*time.Millisecond, "%s: %s", c.name, what)
			_, _, errs := c.snapshot()
			require.Empty(t, errs, c.name)
		}
	}
	wait("every local event acknowledged", func(_ *chaosClient, st childStatus) bool { return st.pending == 0 })
	head, err := r.hub.Head(context.Background())
	require.NoError(t, err)
	wait(fmt.Sprintf("pulled up to the head %d", head), func(_ *chaosClient, st childStatus) bool { return st.cursor == head })
	for _, c := range r.clients {
		require.NoError(t, c.exit(waitTimeout))
		_, _, errs := c.snapshot()
		require.Empty(t, errs, c.name)
	}
	return head
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
