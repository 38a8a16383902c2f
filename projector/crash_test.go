package projector_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/projector"
)

// The crash test re-runs this test binary as a child process (selected by
// crashEnv) that appends, inserts, projects into a SQL table and runs
// effects against one SQLite file until it is killed with SIGKILL at a
// random instant. After several rounds the parent finishes the work and
// checks that every event was projected exactly once and every local effect
// ran at least once and was recorded done once.
const (
	crashEnv     = "FERRY_PROJECTOR_CRASH_CHILD"
	crashDBEnv   = "FERRY_PROJECTOR_CRASH_DB"
	crashSinkEnv = "FERRY_PROJECTOR_CRASH_SINK"
	crashType    = "crash:made"
)

type crashData struct {
	N int `json:"n"`
}

// crashHandlers projects every event (an All handler: remote events may
// arrive outdated) into the crash_rm table (no primary
// key, so a double application would show as a duplicate row) and, as the
// Once effect, appends the event ID to the sink file and fsyncs it.
func crashHandlers(sink string) *projector.Handlers {
	h := projector.NewHandlers()
	projector.All(h, crashType, func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d crashData) error {
		stx, ok := tx.(eventstore.SQLTx)
		if !ok {
			return errors.New("crash test needs a SQL transaction")
		}
		_, err := stx.SQL().ExecContext(ctx, `INSERT INTO crash_rm (event_id, position) VALUES (?, ?)`, e.ID, e.Position)
		return err
	})
	projector.Once(h, crashType, "sink", func(ctx context.Context, eff projector.Effect, d crashData) error {
		f, err := os.OpenFile(sink, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.WriteString(eff.Key + "\n"); err != nil {
			return err
		}
		return f.Sync()
	})
	return h
}

// openCrashStore opens the database with the effects hook and makes sure
// the read-model table exists.
func openCrashStore(ctx context.Context, path string, h *projector.Handlers) (*sqlite.Store, *projector.Effects, error) {
	fx, err := projector.NewEffects(h, projector.EffectOptions{Retry: projector.Backoff{Attempts: 1000, Initial: time.Millisecond, Max: 10 * time.Millisecond}})
	if err != nil {
		return nil, nil, err
	}
	store, err := sqlite.Open(ctx, path, sqlite.Options{Config: eventstore.Config{OnAppend: fx.Hook}})
	if err != nil {
		return nil, nil, err
	}
	fx.Attach(store)
	err = store.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx, `CREATE TABLE IF NOT EXISTS crash_rm (event_id TEXT NOT NULL, position INTEGER NOT NULL)`)
		return err
	})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, fx, nil
}

// TestCrashChild is the child process; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashEnv) == "" {
		t.Skip("helper process for TestCrash")
	}
	ctx := context.Background()
	h := crashHandlers(os.Getenv(crashSinkEnv))
	store, fx, err := openCrashStore(ctx, os.Getenv(crashDBEnv), h)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	p, err := projector.New("crash", store, projector.Options{Handlers: h, BatchSize: 16})
	if err != nil {
		fmt.Println("projector:", err)
		os.Exit(2)
	}
	errs := make(chan error, 2)
	go func() { errs <- p.Run(ctx) }()
	go func() { errs <- fx.Run(ctx) }()
	cp, _ := store.Checkpoint(ctx, "crash")
	head, _ := store.Head(ctx)
	fmt.Println("checkpoint", cp, "head", head)
	fmt.Println("ready")
	for i := 0; ; i++ {
		select {
		case err := <-errs:
			fmt.Println("runner stopped:", err)
			os.Exit(3)
		default:
		}
		if i%4 == 3 { // an event from another device: never an effect
			_, err = store.Insert(ctx, eventstore.Event{ID: eventstore.NewID(), Stream: fmt.Sprintf("s%d", i%7), Type: crashType,
				Data: fmt.Appendf(nil, `{"n":%d}`, i), Created: eventstore.TimestampOf(time.Now()), Origin: "elsewhere"})
		} else {
			events := make([]eventstore.Event, 1+i%3)
			for j := range events {
				events[j] = eventstore.Event{Type: crashType, Data: fmt.Appendf(nil, `{"n":%d}`, i)}
			}
			_, err = store.Append(ctx, eventstore.Write{Stream: fmt.Sprintf("s%d", i%7), Events: events})
		}
		if err != nil {
			fmt.Println("write:", err)
			os.Exit(4)
		}
	}
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test starts child processes")
	}
	dir := t.TempDir()
	db, sink := filepath.Join(dir, "crash.db"), filepath.Join(dir, "sink.txt")
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))

	const rounds = 6
	for round := range rounds {
		killAfter := time.Duration(20+rng.IntN(300)) * time.Millisecond
		runCrashChild(t, db, sink, killAfter)
		t.Logf("round %d: killed after %s", round, killAfter)
	}

	// Finish in this process: catch up and drain the outbox.
	ctx := context.Background()
	h := crashHandlers(sink)
	store, fx, err := openCrashStore(ctx, db, h)
	require.NoError(t, err)
	defer store.Close()
	p, err := projector.New("crash", store, projector.Options{Handlers: h})
	require.NoError(t, err)
	head, err := p.CatchUp(ctx)
	require.NoError(t, err)
	for {
		pending, err := fx.List(ctx, projector.EffectPending)
		require.NoError(t, err)
		if len(pending) == 0 {
			break
		}
		_, err = fx.RunDue(ctx)
		require.NoError(t, err)
	}

	events := testutil.Ledger(t, store)
	require.Equal(t, head, int64(len(events)))
	require.Greater(t, len(events), rounds, "the children did some work")

	// Every event projected exactly once.
	rows := map[string]int{}
	err = store.Update(ctx, func(tx eventstore.Tx) error {
		r, err := tx.(eventstore.SQLTx).SQL().QueryContext(ctx, `SELECT event_id, COUNT(*) FROM crash_rm GROUP BY event_id`)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var id string
			var n int
			if err := r.Scan(&id, &n); err != nil {
				return err
			}
			rows[id] = n
		}
		return r.Err()
	})
	require.NoError(t, err)
	assert.Equal(t, len(events), len(rows), "read-model rows")

	// Every local effect ran at least once and is recorded done once;
	// none ran for events from elsewhere.
	sunk := readSink(t, sink)
	done, err := fx.List(ctx, projector.EffectDone)
	require.NoError(t, err)
	doneIDs := map[string]int{}
	for _, d := range done {
		doneIDs[d.Event.ID]++
	}
	local, repeats := 0, 0
	for _, e := range events {
		assert.Equal(t, 1, rows[e.ID], "projected once: %s at %d (hydrated %t)", e.ID, e.Position, e.Hydrated)
		if e.Hydrated {
			assert.Zero(t, sunk[e.ID], "no effect for remote event %s", e.ID)
			assert.Zero(t, doneIDs[e.ID])
			continue
		}
		local++
		assert.GreaterOrEqual(t, sunk[e.ID], 1, "effect ran for %s", e.ID)
		assert.Equal(t, 1, doneIDs[e.ID], "effect recorded done once for %s", e.ID)
		if sunk[e.ID] > 1 {
			repeats++
		}
	}
	assert.Len(t, done, local)
	failed, err := fx.List(ctx, projector.EffectFailed)
	require.NoError(t, err)
	assert.Empty(t, failed)
	t.Logf("%d events (%d local), %d effects repeated after a crash", len(events), local, repeats)
}

// runCrashChild starts the child, waits until it is working, lets it run
// for killAfter and kills it with SIGKILL.
func runCrashChild(t *testing.T, db, sink string, killAfter time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"=1", crashDBEnv+"="+db, crashSinkEnv+"="+sink)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	lines := bufio.NewScanner(out)
	ready := false
	for lines.Scan() {
		if lines.Text() == "ready" {
			ready = true
			break
		}
		t.Logf("child: %s", lines.Text())
	}
	if !ready {
		_ = cmd.Wait()
		require.FailNow(t, "child ended before it was ready")
	}
	exited := make(chan string, 1)
	go func() {
		var rest []string
		for lines.Scan() {
			rest = append(rest, lines.Text())
		}
		exited <- strings.Join(rest, "\n")
	}()
	time.Sleep(killAfter)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	msg := <-exited // the pipe is read to its end before Wait closes it
	err = cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	ws, ok := exit.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled(), "the child must still be working when killed, it said: %s", msg)
}

func readSink(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]int{}
	}
	require.NoError(t, err)
	out := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		if eventstore.ValidID(line) {
			out[line]++
		}
	}
	return out
}
