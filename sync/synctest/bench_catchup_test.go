package synctest_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
)

// envN passes the event count to the catch-up child.
const envN = "FERRY_SYNCTEST_N"

// envChildProfile, when set, makes the catch-up child write a CPU profile
// of its pull (not of the baseline) to that file.
const envChildProfile = "FERRY_SYNCTEST_CHILD_CPUPROFILE"

// envChildTrace, when set, makes the catch-up child write an execution
// trace of its pull to that file (go tool trace -pprof=sync, =syscall and
// =sched show where the writer waits).
const envChildTrace = "FERRY_SYNCTEST_CHILD_TRACE"

// itemEvent returns the i-th event of the catch-up backlog (about 150
// bytes of payload).
func itemEvent(clock *eventstore.Clock, i int) eventstore.Event {
	return eventstore.Event{
		ID: eventstore.NewID(), Stream: fmt.Sprintf("item/%d", i%1000), Type: "item:added", Schema: 1,
		Data:    fmt.Appendf(nil, `{"n":%d,"title":"item number %d of the catch-up backlog","tags":["bench","catchup"]}`, i, i),
		Meta:    []byte(`{"actor":"seed"}`),
		Created: clock.Now(), Origin: "seed",
	}
}

// BenchmarkCatchUp measures a fresh client pulling a backlog of N events
// (default 1,000,000; FERRY_BENCH_EVENTS; spread over 1,000 streams) into
// SQLite while a projector with a batch handler writes a read-model row per
// event, one prepared INSERT per row (FERRY_BENCH_READMODEL=none leaves the
// projector without handlers, to measure the pull alone). The projector
// runs and is in the client's Config.Projectors, so it handles pulled
// events inside the pull's transactions; the time ends when its checkpoint
// reaches the head. The client runs as a child process, so its peak RSS
// (VmHWM) is its own. Two baselines are measured in the same child: raw
// inserts rows of the same shape into a plain SQLite table of the events'
// columns, 500 per transaction (x_raw); floor runs the pull's event and
// read-model INSERTs into a store of Ferry's schema, without Ferry's own
// work (x_floor, see floorInsert).
func BenchmarkCatchUp(b *testing.B) {
	n := benchSize(b, envBenchEvents, 1_000_000)
	ctx := context.Background()
	hubStore := hubBackends()[0].open(b)
	clock := eventstore.NewClock()
	seedStart := time.Now()
	batch := make([]eventstore.Event, 0, 10000)
	for i := range n {
		batch = append(batch, itemEvent(clock, i))
		if len(batch) == cap(batch) || i == n-1 {
			_, err := hubStore.Insert(ctx, batch...)
			require.NoError(b, err)
			batch = batch[:0]
		}
	}
	b.Logf("seeded %d events in %s", n, time.Since(seedStart).Round(time.Millisecond))
	url := serveHub(b, hubStore, nil)

	var ferry, raw, floor time.Duration
	var peakKB, startKB int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envChild+"=catchup", envURL+"="+url, envToken+"="+token(b, "acme", "fresh"),
			envDB+"="+filepath.Join(dir, "client.db"), envN+"="+strconv.Itoa(n))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		require.NoError(b, err, "%s", out)
		var got int
		var secs, rawSecs, floorSecs float64
		var hwm, rss int64
		line := lastLine(string(out))
		_, err = fmt.Sscanf(line, "result n=%d seconds=%g raw_seconds=%g floor_seconds=%g hwm_kb=%d start_kb=%d", &got, &secs, &rawSecs, &floorSecs, &hwm, &rss)
		require.NoError(b, err, "child said %q", out)
		require.Equal(b, n, got)
		ferry += time.Duration(secs * float64(time.Second))
		raw += time.Duration(rawSecs * float64(time.Second))
		floor += time.Duration(floorSecs * float64(time.Second))
		peakKB, startKB = max(peakKB, hwm), max(startKB, rss)
	}
	total := float64(n * b.N)
	ferryRate, rawRate, floorRate := total/ferry.Seconds(), total/raw.Seconds(), total/floor.Seconds()
	b.ReportMetric(ferryRate, "events/s")
	b.ReportMetric(rawRate, "raw_rows/s")
	b.ReportMetric(ferryRate/rawRate, "x_raw")
	b.ReportMetric(floorRate, "floor_events/s")
	b.ReportMetric(ferryRate/floorRate, "x_floor")
	b.ReportMetric(float64(peakKB)/1024, "peak_rss_MB")
	b.ReportMetric(float64(startKB)/1024, "start_rss_MB")
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// childCatchUp is the "catchup" child: it pulls the hub's backlog into a
// fresh SQLite store with a projector running, then measures the raw and
// floor baselines, and prints "result n=... seconds=... raw_seconds=...
// floor_seconds=... hwm_kb=... start_kb=...".
func childCatchUp() error {
	ctx := context.Background()
	n, err := strconv.Atoi(os.Getenv(envN))
	if err != nil {
		return err
	}
	startKB, err := procStatusKB("self", "VmRSS")
	if err != nil {
		return err
	}
	db := os.Getenv(envDB)
	s, err := sqlite.Open(ctx, db, sqlite.Options{Config: eventstore.Config{Origin: "fresh"}})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx,
			rmItemsTable)
		return err
	}); err != nil {
		return err
	}
	h := projector.NewHandlers()
	readModel := os.Getenv(envBenchReadModel) != "none"
	if readModel {
		projector.OnBatch(h, insertItems, "item:added")
	}
	proj, err := projector.New("items", s, projector.Options{Handlers: h, BatchSize: itemsBatch})
	if err != nil {
		return err
	}
	r, err := client.New(s, client.Config{URL: os.Getenv(envURL), Token: os.Getenv(envToken), Projectors: []client.Projector{proj}})
	if err != nil {
		return err
	}

	stopProfile := func() {}
	if path := os.Getenv(envChildProfile); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		stopProfile = pprof.StopCPUProfile // at the end of the pull, before the baseline
		defer stopProfile()
	}
	stopTrace := func() {}
	if path := os.Getenv(envChildTrace); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return err
		}
		stopTrace = trace.Stop // at the end of the pull, like the profile
		defer stopTrace()
	}
	start := time.Now()
	// The pull runs under a cancellable context, as an app's does (one
	// from signal.NotifyContext, say).
	pctx, stop := context.WithCancel(ctx)
	projDone := make(chan error, 1)
	go func() { projDone <- proj.Run(pctx) }()
	st, err := r.SyncOnce(pctx)
	if err != nil {
		stop()
		return err
	}
	if err := proj.WaitFor(ctx, int64(st.Inserted)); err != nil {
		stop()
		return err
	}
	elapsed := time.Since(start)
	stopProfile()
	stopTrace()
	stop()
	if err := <-projDone; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	hwm, err := procStatusKB("self", "VmHWM")
	if err != nil {
		return err
	}
	if st.Inserted != n {
		return fmt.Errorf("inserted %d of %d events", st.Inserted, n)
	}
	rows := n
	if readModel {
		if err := s.Update(ctx, func(tx eventstore.Tx) error {
			return tx.(eventstore.SQLTx).SQL().QueryRowContext(ctx, `SELECT count(*) FROM rm_items`).Scan(&rows)
		}); err != nil {
			return err
		}
	}
	if rows != n {
		return fmt.Errorf("read model has %d of %d rows", rows, n)
	}

	rawSecs, err := rawSQLiteInsert(ctx, filepath.Join(filepath.Dir(db), "raw.db"), n)
	if err != nil {
		return err
	}
	floorSecs, err := floorInsert(ctx, filepath.Join(filepath.Dir(db), "floor.db"), n, readModel)
	if err != nil {
		return err
	}
	fmt.Printf("result n=%d seconds=%f raw_seconds=%f floor_seconds=%f hwm_kb=%d start_kb=%d\n", n, elapsed.Seconds(), rawSecs, floorSecs, hwm, startKB)
	return nil
}

// rmItemsTable is the catch-up projector's read model.
const rmItemsTable = `CREATE TABLE rm_items (id TEXT PRIMARY KEY, stream TEXT NOT NULL, data BLOB NOT NULL)`

// insertItems is the catch-up projector's batch handler: one read-model
// row per event, through one prepared INSERT per batch.
func insertItems(ctx context.Context, tx eventstore.Tx, events []eventstore.Event) error {
	stmt, err := tx.(eventstore.SQLTx).SQL().PrepareContext(ctx, `INSERT INTO rm_items (id, stream, data) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, e := range events {
		if _, err := stmt.ExecContext(ctx, e.ID, e.Stream, []byte(e.Data)); err != nil {
			return err
		}
	}
	return nil
}

// floorBatch is the floor's events per transaction: client.DefaultPullBatch.
const floorBatch = client.DefaultPullBatch

// itemsBatch is the catch-up projector's BatchSize, and so the events per
// call of the floor's read-model handler.
const itemsBatch = 1000

// floorRows are the row counts of the floor's multi-row event INSERTs, the
// store's (see sized and insertRemoteSQL in eventstore/sqlite), largest
// first.
var floorRows = [...]int{64, 16, 4, 1}

// floorInsertSQL returns the floor's INSERT of rows events: the text of
// insertRemoteSQL in eventstore/sqlite, which the store's Insert runs for
// pulled events (keep the two alike).
func floorInsertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT OR IGNORE INTO events (id, stream, type, schema, data, meta, created, origin, outdated, hub_position, hydrated) VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)")
	}
	return b.String()
}

// floorInsert runs the pull's event and read-model INSERTs with Ferry's own
// work taken away, and returns the seconds it took: the n backlog events
// go into a fresh store's events table (Ferry's schema, indexes and
// PRAGMAs, through its writer connection) with the multi-row INSERTs its
// Insert runs, and the read-model rows (unless readModel is false) through
// the projector's handler, 1,000 events a call (its BatchSize),
// floorBatch events per transaction. Left out: the network and decoding,
// validation, the duplicate and stream/type lookups, the stream/type
// upserts, the cursor and checkpoint writes, the projector's dispatch.
// (Also unlike the pull, the floor prepares its statements in each
// transaction, and every transaction holds floorBatch events, the pull's
// largest.) It is what SQLite needs for the pull's rows: its floor.
func floorInsert(ctx context.Context, path string, n int, readModel bool) (float64, error) {
	s, err := sqlite.Open(ctx, path, sqlite.Options{Config: eventstore.Config{Origin: "floor"}})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if err := s.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx, rmItemsTable)
		return err
	}); err != nil {
		return 0, err
	}
	clock := eventstore.NewClock()
	events := make([]eventstore.Event, 0, floorBatch)
	args := make([]any, 0, floorRows[0]*10)
	var elapsed time.Duration
	for i := 0; i < n; {
		events = events[:0]
		for ; len(events) < cap(events) && i < n; i++ {
			e := itemEvent(clock, i)
			e.HubPosition = int64(i + 1)
			events = append(events, e)
		}
		start := time.Now()
		err := s.Update(ctx, func(tx eventstore.Tx) error {
			sqlTx := tx.(eventstore.SQLTx).SQL()
			var stmts [len(floorRows)]*sql.Stmt
			for j, rows := range floorRows {
				st, err := sqlTx.PrepareContext(ctx, floorInsertSQL(rows))
				if err != nil {
					return err
				}
				defer st.Close()
				stmts[j] = st
			}
			for rest := events; len(rest) > 0; {
				j := 0
				for floorRows[j] > len(rest) {
					j++
				}
				rows := floorRows[j]
				args = args[:0]
				for _, e := range rest[:rows] {
					args = append(args, e.ID, e.Stream, e.Type, e.Schema, []byte(e.Data), []byte(e.Meta), int64(e.Created), e.Origin, false, e.HubPosition)
				}
				if _, err := stmts[j].ExecContext(ctx, args...); err != nil {
					return err
				}
				rest = rest[rows:]
			}
			for rest := events; readModel && len(rest) > 0; {
				k := min(len(rest), itemsBatch)
				if err := insertItems(ctx, tx, rest[:k]); err != nil {
					return err
				}
				rest = rest[k:]
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		elapsed += time.Since(start)
	}
	// INSERT OR IGNORE would skip a row silently: make sure the floor did
	// all the work it is compared with.
	var stored, items int
	if err := s.Update(ctx, func(tx eventstore.Tx) error {
		return tx.(eventstore.SQLTx).SQL().QueryRowContext(ctx,
			`SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM rm_items)`).Scan(&stored, &items)
	}); err != nil {
		return 0, err
	}
	if want := n * bool2int(readModel); stored != n || items != want {
		return 0, fmt.Errorf("floor stored %d events and %d read-model rows, want %d and %d", stored, items, n, want)
	}
	return elapsed.Seconds(), nil
}

// bool2int returns 1 for true and 0 for false.
func bool2int(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rawSQLiteInsert inserts n backlog-shaped rows into a plain table with the
// events' columns, 500 per transaction, and returns the seconds it took.
func rawSQLiteInsert(ctx context.Context, path string, n int) (float64, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE raw_events (
	position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, stream TEXT NOT NULL, type TEXT NOT NULL,
	schema INTEGER NOT NULL, data BLOB NOT NULL, meta BLOB NOT NULL, created INTEGER NOT NULL,
	origin TEXT NOT NULL, hub_position INTEGER NOT NULL, hydrated INTEGER NOT NULL, outdated INTEGER NOT NULL)`); err != nil {
		return 0, err
	}
	clock := eventstore.NewClock()
	events := make([]eventstore.Event, 0, 500)
	var elapsed time.Duration
	for i := 0; i < n; {
		events = events[:0]
		for ; len(events) < cap(events) && i < n; i++ {
			events = append(events, itemEvent(clock, i))
		}
		start := time.Now()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO raw_events
	(id, stream, type, schema, data, meta, created, origin, hub_position, hydrated, outdated)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0)`)
		if err != nil {
			_ = tx.Rollback()
			return 0, err
		}
		for j, e := range events {
			if _, err := stmt.ExecContext(ctx, e.ID, e.Stream, e.Type, e.Schema, []byte(e.Data), []byte(e.Meta),
				int64(e.Created), e.Origin, i-len(events)+j+1); err != nil {
				_ = tx.Rollback()
				return 0, err
			}
		}
		_ = stmt.Close()
		if err := tx.Commit(); err != nil {
			return 0, err
		}
		elapsed += time.Since(start)
	}
	return elapsed.Seconds(), nil
}

// procStatusKB returns a "kB" field of /proc/PROC/status (PROC: "self" or
// a process id).
func procStatusKB(proc, field string) (int64, error) {
	f, err := os.Open("/proc/" + proc + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}
