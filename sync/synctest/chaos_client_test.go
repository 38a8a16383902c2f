package synctest_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/sync/client"
)

// Environment of a chaos client process (chaosChild).
const (
	envChaosDB      = "FERRY_CHAOS_DB"
	envChaosURL     = "FERRY_CHAOS_URL"
	envChaosToken   = "FERRY_CHAOS_TOKEN"
	envChaosDevice  = "FERRY_CHAOS_DEVICE"
	envChaosSkew    = "FERRY_CHAOS_SKEW"    // wall clock offset, a duration
	envChaosStreams = "FERRY_CHAOS_STREAMS" // Config.Streams, comma-separated
	envChaosWrites  = "FERRY_CHAOS_WRITES"  // stream prefixes it writes to
	envChaosSeed    = "FERRY_CHAOS_WSEED"   // seeds its writes
	envChaosOffline = "FERRY_CHAOS_OFFLINE" // how long it writes before it first connects
)

func init() { children["chaos"] = chaosChild }

// chaosChild is a device in a chaos run, in its own process so that it can
// be killed: it keeps its SQLite store in sync with Run (through whichever
// node's proxy it was given) while it appends a few events every few tens
// of milliseconds, printing "wrote ID..." once each append has committed;
// it may write offline for a while before it first connects.
// On the line "stop" from stdin it stops writing, prints "stopped", then
// prints "status pending=P rejected=R cursor=C" whenever that changes; it
// exits when stdin closes.
func chaosChild() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	skew, err := time.ParseDuration(os.Getenv(envChaosSkew))
	if err != nil {
		return err
	}
	seed, err := strconv.ParseUint(os.Getenv(envChaosSeed), 10, 64)
	if err != nil {
		return err
	}
	clock := eventstore.NewClock(eventstore.WithWallClock(func() time.Time { return time.Now().Add(skew) }))
	device := os.Getenv(envChaosDevice)
	s, err := sqlite.Open(ctx, os.Getenv(envChaosDB), sqlite.Options{Config: eventstore.Config{Origin: device, Clock: clock}})
	if err != nil {
		return err
	}
	defer s.Close()
	var streams []string
	if v := os.Getenv(envChaosStreams); v != "" {
		streams = strings.Split(v, ",")
	}
	r, err := client.New(s, client.Config{
		URL: os.Getenv(envChaosURL), Token: os.Getenv(envChaosToken), Streams: streams,
		Backoff:     client.Backoff{Initial: 10 * time.Millisecond, Max: 250 * time.Millisecond},
		KeepAlive:   400 * time.Millisecond,
		DialTimeout: 2 * time.Second,
		VerifyEvery: time.Nanosecond, // check the stored copy on every connection
		BatchSize:   20,
		PullBatch:   50,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	offline, err := time.ParseDuration(os.Getenv(envChaosOffline))
	if err != nil {
		return err
	}
	runDone := make(chan error, 1)
	go func() {
		select {
		case <-time.After(offline):
			runDone <- r.Run(ctx)
		case <-ctx.Done():
			runDone <- ctx.Err()
		}
	}()
	stop, quit := make(chan struct{}), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		stopped := false
		for sc.Scan() {
			if sc.Text() == "stop" && !stopped {
				stopped = true
				close(stop)
			}
		}
		close(quit)
	}()
	ended := func(err error) error { return fmt.Errorf("run ended: %w", err) }

	prefixes := strings.Split(os.Getenv(envChaosWrites), ",")
	rng := rand.New(rand.NewPCG(seed, 1))
writing:
	for {
		select {
		case <-stop:
			break writing
		case <-quit:
			return nil
		case err := <-runDone:
			return ended(err)
		case <-time.After(time.Duration(10+rng.IntN(30)) * time.Millisecond):
		}
		w := eventstore.Write{Stream: prefixes[rng.IntN(len(prefixes))] + strconv.Itoa(rng.IntN(3))}
		for range 1 + rng.IntN(3) {
			w.Events = append(w.Events, eventstore.Event{Type: "note:added", Data: fmt.Appendf(nil, `{"n":%d}`, rng.Uint32())})
		}
		events, err := s.Append(ctx, w)
		if err != nil {
			return err
		}
		line := []byte("wrote")
		for _, e := range events {
			line = append(append(line, ' '), e.ID...)
		}
		// One write per line: a kill never leaves half a line.
		if _, err := os.Stdout.Write(append(line, '\n')); err != nil {
			return err
		}
	}
	fmt.Println("stopped")
	last := ""
	for {
		st, err := r.Status(ctx)
		if err != nil {
			return err
		}
		if line := fmt.Sprintf("status pending=%d rejected=%d cursor=%d", st.Pending, st.Rejected, st.Cursor); line != last {
			fmt.Println(line)
			last = line
		}
		select {
		case <-quit:
			cancel()
			if err := <-runDone; !errors.Is(err, context.Canceled) {
				return ended(err)
			}
			return nil
		case err := <-runDone:
			return ended(err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// childStatus is the last status line of a chaos client.
type childStatus struct {
	pending, rejected int
	cursor            int64
	ok                bool // a status line arrived
}

// chaosClient is the test's handle on one chaos client: its configuration,
// the process running it (if any), and what its processes reported.
type chaosClient struct {
	name    string
	db      string
	token   string
	skew    time.Duration
	offline time.Duration // of its first process
	streams []string      // Config.Streams
	scope   []string      // what it pulls: token scope or Config.Streams (nil: all)
	writes  []string      // stream prefixes it writes to

	mu      sync.Mutex
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	exited  chan struct{}
	killed  bool
	wrote   []string
	status  childStatus
	stopped bool
	errs    []error
	stderr  bytes.Buffer
	starts  int
	killCnt int
}

// start runs a new process of c against the hub at url.
func (c *chaosClient) start(url string, seed uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return fmt.Errorf("%s: already running", c.name)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=chaos",
		envChaosDB+"="+c.db, envChaosURL+"="+url, envChaosToken+"="+c.token, envChaosDevice+"="+c.name,
		envChaosSkew+"="+c.skew.String(), envChaosStreams+"="+strings.Join(c.streams, ","),
		envChaosWrites+"="+strings.Join(c.writes, ","), envChaosSeed+"="+strconv.FormatUint(seed, 10),
		envChaosOffline+"="+c.offline.String())
	c.offline = 0
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = &lockedBuffer{mu: &c.mu, b: &c.stderr}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start: %w", c.name, err)
	}
	exited := make(chan struct{})
	c.cmd, c.stdin, c.exited, c.killed, c.stopped, c.status = cmd, stdin, exited, false, false, childStatus{}
	c.starts++
	go c.read(cmd, stdout, exited)
	return nil
}

// read parses a process's output until it exits, then reaps it.
func (c *chaosClient) read(cmd *exec.Cmd, stdout io.Reader, exited chan struct{}) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		c.mu.Lock()
		switch {
		case strings.HasPrefix(line, "wrote "):
			c.wrote = append(c.wrote, strings.Fields(line)[1:]...)
		case line == "stopped":
			c.stopped = true
		case strings.HasPrefix(line, "status "):
			var st childStatus
			if _, err := fmt.Sscanf(line, "status pending=%d rejected=%d cursor=%d", &st.pending, &st.rejected, &st.cursor); err != nil {
				c.errs = append(c.errs, fmt.Errorf("%s: bad status line %q", c.name, line))
			}
			st.ok = true
			c.status = st
		case strings.HasPrefix(line, "error"):
			c.errs = append(c.errs, fmt.Errorf("%s: %s", c.name, line))
		}
		c.mu.Unlock()
	}
	err := cmd.Wait()
	c.mu.Lock()
	if err != nil && !c.killed {
		c.errs = append(c.errs, fmt.Errorf("%s exited: %w", c.name, err))
	}
	if c.cmd == cmd {
		c.cmd = nil
	}
	c.mu.Unlock()
	close(exited)
}

// kill sends SIGKILL to the running process and waits until it is gone.
func (c *chaosClient) kill() error {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	if cmd == nil {
		c.mu.Unlock()
		return fmt.Errorf("%s: not running", c.name)
	}
	c.killed = true
	c.killCnt++
	c.mu.Unlock()
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-exited
	return nil
}

// running reports whether a process of c runs.
func (c *chaosClient) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cmd != nil
}

// stop asks the running process to stop writing.
func (c *chaosClient) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return fmt.Errorf("%s: not running", c.name)
	}
	_, err := io.WriteString(c.stdin, "stop\n")
	return err
}

// exit closes the running process's stdin and waits until it exits, at
// most timeout.
func (c *chaosClient) exit(timeout time.Duration) error {
	c.mu.Lock()
	stdin, exited := c.stdin, c.exited
	running := c.cmd != nil
	c.mu.Unlock()
	if !running {
		return nil
	}
	_ = stdin.Close()
	select {
	case <-exited:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s did not exit in %s", c.name, timeout)
	}
}

// snapshot returns what the client's processes reported.
func (c *chaosClient) snapshot() (st childStatus, stopped bool, errs []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status, c.stopped, append([]error(nil), c.errs...)
}

// lockedBuffer appends to b under mu, keeping its last 64 KiB.
type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		rest := append([]byte(nil), l.b.Bytes()[l.b.Len()-32<<10:]...)
		l.b.Reset()
		l.b.Write(rest)
	}
	return l.b.Write(p)
}
