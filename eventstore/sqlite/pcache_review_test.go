package sqlite

// Hostile tests of the local page cache (pcache.go), written by a reviewer.
// They check behaviour only, so they must pass with SQLite's own cache too:
//
//	FERRY_SQLITE_LOCAL_PAGE_CACHE=1 go test -race -run Review ./eventstore/sqlite/
//	go test -race -run Review ./eventstore/sqlite/
//
// Every workload keeps the page cache far smaller than the data, so pages
// are recycled, spilled (createFlag 2 after 1 failed), moved (xRekey, by
// auto_vacuum) and truncated, and compares the database with what it wrote.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"modernc.org/libc"
	"modernc.org/sqlite"

	"github.com/ferrysync/ferry/eventstore"
)

// reviewDB opens a database/sql pool on dsn with at most conns connections,
// each running the given PRAGMAs.
func reviewDB(t testing.TB, dsn string, conns int, pragmas ...string) *sql.DB {
	t.Helper()
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	if len(q) > 0 {
		dsn += sep + q.Encode()
	}
	db, err := sql.Open("sqlite", dsn)
	require.NoError(t, err)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// reviewBlob is a deterministic pseudo-random blob for row k of a test,
// large enough to need overflow pages at page_size 512.
func reviewBlob(seed, k int) []byte {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(k)))
	b := make([]byte, 100+r.IntN(900))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// reviewCheck compares table tbl (k INTEGER PRIMARY KEY, v BLOB) of q with
// want (k -> seed used for the blob) and runs integrity_check on schema.
func reviewCheck(t *testing.T, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, schema, tbl string, want map[int]int) {
	t.Helper()
	ctx := context.Background()
	var check string
	require.NoError(t, q.QueryRowContext(ctx, "PRAGMA "+schema+".integrity_check").Scan(&check))
	require.Equal(t, "ok", check, "integrity_check of %s", schema)
	rows, err := q.QueryContext(ctx, "SELECT k, v FROM "+schema+"."+tbl+" ORDER BY k")
	require.NoError(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var k int
		var v []byte
		require.NoError(t, rows.Scan(&k, &v))
		seed, ok := want[k]
		require.True(t, ok, "row %d of %s.%s was not written or was deleted", k, schema, tbl)
		require.Equal(t, reviewBlob(seed, k), v, "row %d of %s.%s", k, schema, tbl)
		n++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, len(want), n, "rows of %s.%s", schema, tbl)
}

// TestReviewSpillSavepoints: one transaction much larger than a 10-page
// cache (every new page past the first few is fetched with createFlag 1,
// refused, then 2 after a spill), with nested savepoints rolled back, then
// a large DELETE, re-INSERT (freelist pages reused) and VACUUM
// (truncation), in both rollback-journal and WAL modes.
func TestReviewSpillSavepoints(t *testing.T) {
	for _, journal := range []string{"delete", "wal"} {
		t.Run(journal, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "spill.db")
			db := reviewDB(t, "file:"+path, 1, "page_size(512)", "journal_mode("+journal+")", "cache_size(10)")
			_, err := db.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB); CREATE INDEX t_v ON t(v)`)
			require.NoError(t, err)
			want := map[int]int{}
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			for sp := range 30 {
				_, err := tx.Exec(fmt.Sprintf("SAVEPOINT s%d", sp))
				require.NoError(t, err)
				pending := map[int]int{}
				for i := range 100 {
					k := sp*100 + i
					_, err := tx.Exec("INSERT INTO t VALUES (?, ?)", k, reviewBlob(1, k))
					require.NoError(t, err)
					pending[k] = 1
				}
				// rewrite some earlier rows inside the savepoint
				for k := range want {
					if k%7 == sp%7 {
						_, err := tx.Exec("UPDATE t SET v = ? WHERE k = ?", reviewBlob(2, k), k)
						require.NoError(t, err)
						pending[k] = 2
					}
				}
				if sp%3 == 1 {
					_, err = tx.Exec(fmt.Sprintf("ROLLBACK TO s%d", sp))
					require.NoError(t, err)
				} else {
					for k, s := range pending {
						want[k] = s
					}
				}
				_, err = tx.Exec(fmt.Sprintf("RELEASE s%d", sp))
				require.NoError(t, err)
			}
			reviewCheck(t, tx, "main", "t", want)
			require.NoError(t, tx.Commit())
			reviewCheck(t, db, "main", "t", want)

			// a large DELETE, then INSERT reusing the freelist, then VACUUM
			_, err = db.Exec("DELETE FROM t WHERE k % 3 != 0")
			require.NoError(t, err)
			for k := range want {
				if k%3 != 0 {
					delete(want, k)
				}
			}
			tx, err = db.BeginTx(ctx, nil)
			require.NoError(t, err)
			for k := 5000; k < 6500; k++ {
				_, err := tx.Exec("INSERT INTO t VALUES (?, ?)", k, reviewBlob(3, k))
				require.NoError(t, err)
				want[k] = 3
			}
			require.NoError(t, tx.Rollback()) // a rolled back big transaction
			for k := 5000; k < 6500; k++ {
				delete(want, k)
			}
			reviewCheck(t, db, "main", "t", want)
			_, err = db.Exec("DELETE FROM t WHERE k < 1500")
			require.NoError(t, err)
			for k := range want {
				if k < 1500 {
					delete(want, k)
				}
			}
			_, err = db.Exec("VACUUM")
			require.NoError(t, err)
			reviewCheck(t, db, "main", "t", want)
			_, err = db.Exec("PRAGMA shrink_memory")
			require.NoError(t, err)
			reviewCheck(t, db, "main", "t", want)

			// another connection (another cache) sees the same content
			other := reviewDB(t, "file:"+path, 1, "cache_size(10)")
			reviewCheck(t, other, "main", "t", want)
		})
	}
}

// TestReviewAutoVacuumMoves: with auto_vacuum FULL or INCREMENTAL, a commit
// that frees pages moves pages from the end of the file into the holes
// (sqlite3PcacheMove: xFetch(newKey, 0), drop, then xRekey), then
// truncates the file (xTruncate), all with a 10-page cache.
func TestReviewAutoVacuumMoves(t *testing.T) {
	for _, mode := range []string{"full", "incremental"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "av.db")
			db := reviewDB(t, "file:"+path, 1, "page_size(512)", "auto_vacuum("+mode+")", "cache_size(10)")
			want := map[string]map[int]int{}
			for i := range 4 {
				tbl := fmt.Sprintf("t%d", i)
				_, err := db.Exec("CREATE TABLE " + tbl + " (k INTEGER PRIMARY KEY, v BLOB)")
				require.NoError(t, err)
				want[tbl] = map[int]int{}
			}
			for round := range 6 {
				tx, err := db.BeginTx(ctx, nil)
				require.NoError(t, err)
				for i := range 4 {
					tbl := fmt.Sprintf("t%d", i)
					for j := range 150 {
						k := round*1000 + j
						_, err := tx.Exec("INSERT INTO "+tbl+" VALUES (?, ?)", k, reviewBlob(10+i, k))
						require.NoError(t, err)
						want[tbl][k] = 10 + i
					}
				}
				require.NoError(t, tx.Commit())
				// free pages at the start of the file: later pages move there
				tbl := fmt.Sprintf("t%d", round%4)
				_, err = db.Exec("DELETE FROM " + tbl + " WHERE k % 2 = 0")
				require.NoError(t, err)
				for k := range want[tbl] {
					if k%2 == 0 {
						delete(want[tbl], k)
					}
				}
				if mode == "incremental" {
					rows, err := db.Query("PRAGMA incremental_vacuum(50)")
					require.NoError(t, err)
					for rows.Next() {
					}
					require.NoError(t, rows.Close())
				}
				for tbl, w := range want {
					reviewCheck(t, db, "main", tbl, w)
				}
			}
			_, err := db.Exec("DROP TABLE t0")
			require.NoError(t, err)
			delete(want, "t0")
			if mode == "incremental" {
				_, err = db.Exec("PRAGMA incremental_vacuum")
				require.NoError(t, err)
			}
			other := reviewDB(t, "file:"+path, 1, "cache_size(10)")
			for tbl, w := range want {
				reviewCheck(t, db, "main", tbl, w)
				reviewCheck(t, other, "main", tbl, w)
			}
		})
	}
}

// TestReviewNonPurgeable: temporary tables with temp_store=MEMORY and an
// attached ':memory:' database keep their pages only in the cache (a
// non-purgeable cache): a tiny cache_size, shrink_memory, savepoints rolled
// back, large deletes and VACUUM must not lose any of them.
func TestReviewNonPurgeable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "np.db")
	db := reviewDB(t, "file:"+path, 1, "temp_store(memory)", "cache_size(10)")
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := conn.ExecContext(ctx, q, args...)
		require.NoError(t, err, q)
	}
	exec("ATTACH ':memory:' AS m")
	exec("CREATE TEMP TABLE tt (k INTEGER PRIMARY KEY, v BLOB)")
	exec("CREATE TABLE m.mt (k INTEGER PRIMARY KEY, v BLOB)")
	exec("CREATE INDEX m.mt_v ON mt(v)")
	exec("PRAGMA temp.cache_size = 10")
	exec("PRAGMA m.cache_size = 10")
	want := map[int]int{}
	for round := range 5 {
		exec("BEGIN")
		for j := range 400 {
			k := round*1000 + j
			exec("INSERT INTO tt VALUES (?, ?)", k, reviewBlob(20, k))
			exec("INSERT INTO m.mt VALUES (?, ?)", k, reviewBlob(20, k))
			want[k] = 20
		}
		exec("SAVEPOINT x")
		for j := range 300 {
			k := round*1000 + 500 + j
			exec("INSERT INTO tt VALUES (?, ?)", k, reviewBlob(21, k))
			exec("INSERT INTO m.mt VALUES (?, ?)", k, reviewBlob(21, k))
		}
		exec("UPDATE tt SET v = zeroblob(700) WHERE k % 5 = 0")
		exec("UPDATE m.mt SET v = zeroblob(700) WHERE k % 5 = 0")
		exec("ROLLBACK TO x")
		exec("RELEASE x")
		exec("COMMIT")
		exec("PRAGMA shrink_memory")
		reviewCheck(t, conn, "temp", "tt", want)
		reviewCheck(t, conn, "m", "mt", want)
	}
	exec("DELETE FROM tt WHERE k % 4 = 1")
	exec("DELETE FROM m.mt WHERE k % 4 = 1")
	for k := range want {
		if k%4 == 1 {
			delete(want, k)
		}
	}
	exec("VACUUM m")
	exec("VACUUM temp")
	exec("PRAGMA shrink_memory")
	reviewCheck(t, conn, "temp", "tt", want)
	reviewCheck(t, conn, "m", "mt", want)

	// a whole in-memory database on its own, as its main schema
	mem := reviewDB(t, ":memory:", 1, "cache_size(10)")
	_, err = mem.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
	require.NoError(t, err)
	tx, err := mem.Begin()
	require.NoError(t, err)
	for k := range want {
		_, err := tx.Exec("INSERT INTO t VALUES (?, ?)", k, reviewBlob(want[k], k))
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
	_, err = mem.Exec("PRAGMA shrink_memory")
	require.NoError(t, err)
	_, err = mem.Exec("PRAGMA cache_size = 1")
	require.NoError(t, err)
	reviewCheck(t, mem, "main", "t", want)
}

// TestReviewPageSizeChange: a page size set before the first write, and
// changed by VACUUM later, replaces the connection's cache
// (sqlite3PcacheSetPageSize: xCreate of the new one, xDestroy of the old).
func TestReviewPageSizeChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ps.db")
	db := reviewDB(t, "file:"+path, 1, "cache_size(10)")
	want := map[int]int{}
	for _, size := range []int{1024, 512, 4096, 65536, 512} {
		_, err := db.Exec(fmt.Sprintf("PRAGMA page_size = %d", size))
		require.NoError(t, err)
		if len(want) == 0 {
			_, err = db.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
			require.NoError(t, err)
		} else {
			_, err = db.Exec("VACUUM")
			require.NoError(t, err)
		}
		var got int
		require.NoError(t, db.QueryRow("PRAGMA page_size").Scan(&got))
		require.Equal(t, size, got)
		tx, err := db.Begin()
		require.NoError(t, err)
		for j := range 300 {
			k := size + j
			_, err := tx.Exec("INSERT OR REPLACE INTO t VALUES (?, ?)", k, reviewBlob(30, k))
			require.NoError(t, err)
			want[k] = 30
		}
		require.NoError(t, tx.Commit())
		reviewCheck(t, db, "main", "t", want)
	}
}

// TestReviewParallelConnections: many connections, each its own cache,
// write and read one WAL file at once with tiny caches; readers check that
// every snapshot is consistent (each writer's rows carry a running total),
// connections are closed and reopened while the others work, and the
// final content is what was written.
func TestReviewParallelConnections(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "par.db")
	pragmas := []string{"journal_mode(wal)", "busy_timeout(20000)", "cache_size(-16)"}
	setup := reviewDB(t, "file:"+path, 1, append(pragmas, "page_size(512)")...)
	_, err := setup.Exec(`CREATE TABLE t (w INTEGER, k INTEGER, v BLOB, PRIMARY KEY (w, k));
		CREATE TABLE tot (w INTEGER PRIMARY KEY, n INTEGER, bytes INTEGER)`)
	require.NoError(t, err)
	const writers, readers, rounds, per = 4, 4, 25, 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	want := make([]map[int]int, writers)
	for w := range writers {
		want[w] = map[int]int{}
		wg.Go(func() {
			for r := range rounds {
				// a new connection (a new cache) every few rounds
				db, err := sql.Open("sqlite", "file:"+path+"?"+reviewPragmas(pragmas))
				if !assert.NoError(t, err) {
					return
				}
				db.SetMaxOpenConns(1)
				tx, err := db.BeginTx(ctx, nil)
				if !assert.NoError(t, err) {
					db.Close()
					return
				}
				total := 0
				for j := range per {
					k := r*per + j
					b := reviewBlob(100+w, k)
					total += len(b)
					_, err = tx.Exec("INSERT INTO t VALUES (?, ?, ?)", w, k, b)
					assert.NoError(t, err)
				}
				_, err = tx.Exec(`INSERT INTO tot VALUES (?, ?, ?) ON CONFLICT (w) DO UPDATE SET n = n + excluded.n, bytes = bytes + excluded.bytes`, w, per, total)
				assert.NoError(t, err)
				if r%5 == 4 {
					assert.NoError(t, tx.Rollback())
				} else {
					assert.NoError(t, tx.Commit())
					mu.Lock()
					for j := range per {
						want[w][r*per+j] = 100 + w
					}
					mu.Unlock()
				}
				if r%3 == 0 {
					_, err = db.Exec("PRAGMA shrink_memory")
					assert.NoError(t, err)
				}
				assert.NoError(t, db.Close())
			}
		})
	}
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	for range readers {
		rwg.Go(func() {
			db, err := sql.Open("sqlite", "file:"+path+"?"+reviewPragmas(pragmas))
			if !assert.NoError(t, err) {
				return
			}
			defer db.Close()
			db.SetMaxOpenConns(2)
			for {
				select {
				case <-stop:
					return
				default:
				}
				tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
				if !assert.NoError(t, err) {
					return
				}
				rows, err := tx.Query("SELECT w, count(*), sum(length(v)) FROM t GROUP BY w")
				if !assert.NoError(t, err) {
					_ = tx.Rollback()
					return
				}
				got := map[int][2]int{}
				for rows.Next() {
					var w, n, b int
					assert.NoError(t, rows.Scan(&w, &n, &b))
					got[w] = [2]int{n, b}
				}
				assert.NoError(t, rows.Err())
				rows.Close()
				rows, err = tx.Query("SELECT w, n, bytes FROM tot")
				if assert.NoError(t, err) {
					for rows.Next() {
						var w, n, b int
						assert.NoError(t, rows.Scan(&w, &n, &b))
						assert.Equal(t, [2]int{n, b}, got[w], "writer %d: rows against its total", w)
					}
					rows.Close()
				}
				_ = tx.Rollback()
			}
		})
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	final := reviewDB(t, "file:"+path, 1, pragmas...)
	var check string
	require.NoError(t, final.QueryRow("PRAGMA integrity_check").Scan(&check))
	require.Equal(t, "ok", check)
	for w := range writers {
		rows, err := final.Query("SELECT k, v FROM t WHERE w = ? ORDER BY k", w)
		require.NoError(t, err)
		n := 0
		for rows.Next() {
			var k int
			var v []byte
			require.NoError(t, rows.Scan(&k, &v))
			require.Contains(t, want[w], k)
			require.Equal(t, reviewBlob(100+w, k), v)
			n++
		}
		rows.Close()
		require.Equal(t, len(want[w]), n)
	}
}

func reviewPragmas(pragmas []string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	return q.Encode()
}

// TestReviewSharedCache: with cache=shared, several connections share one
// pager and so one page cache, each calling it from its own goroutine
// (SQLite serialises them with its own mutex).
func TestReviewSharedCache(t *testing.T) {
	for _, name := range []string{"memory", "file"} {
		t.Run(name, func(t *testing.T) {
			dsn := "file:review_shared_" + strconv.Itoa(rand.Int()) + "?mode=memory&cache=shared"
			if name == "file" {
				dsn = "file:" + filepath.Join(t.TempDir(), "sh.db") + "?cache=shared"
			}
			// keep one connection open so the shared in-memory database lives
			keep := reviewDB(t, dsn, 1, "cache_size(10)")
			_, err := keep.Exec("CREATE TABLE t (w INTEGER, k INTEGER, v BLOB, PRIMARY KEY (w, k))")
			require.NoError(t, err)
			const conns, rows = 4, 200
			var wg sync.WaitGroup
			for w := range conns {
				wg.Go(func() {
					db, err := sql.Open("sqlite", dsn+"&_pragma=busy_timeout(20000)")
					if !assert.NoError(t, err) {
						return
					}
					defer db.Close()
					db.SetMaxOpenConns(1)
					for k := range rows {
						for {
							_, err = db.Exec("INSERT INTO t VALUES (?, ?, ?)", w, k, reviewBlob(200+w, k))
							if err == nil || !strings.Contains(err.Error(), "locked") {
								break
							}
							runtime.Gosched()
						}
						assert.NoError(t, err)
						var n int
						for {
							err = db.QueryRow("SELECT count(*) FROM t WHERE w = ?", w).Scan(&n)
							if err == nil || !strings.Contains(err.Error(), "locked") {
								break
							}
							runtime.Gosched()
						}
						assert.NoError(t, err)
						assert.Equal(t, k+1, n)
					}
				})
			}
			wg.Wait()
			var check string
			require.NoError(t, keep.QueryRow("PRAGMA integrity_check").Scan(&check))
			require.Equal(t, "ok", check)
			var n int
			require.NoError(t, keep.QueryRow("SELECT count(*) FROM t").Scan(&n))
			require.Equal(t, conns*rows, n)
		})
	}
}

// TestReviewStoreTinyCache: the package's Store with a writer cache of a
// few pages, its readers shrunk, closed and reopened in a loop while
// another store works; every ledger is complete and intact.
func TestReviewStoreTinyCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			path := filepath.Join(dir, fmt.Sprintf("s%d.db", i))
			written := 0
			for reopen := range 6 {
				s, err := Open(ctx, path, Options{CacheBytes: 1 << 10})
				if !assert.NoError(t, err) {
					return
				}
				for r := range 8 {
					events := make([]eventstore.Event, 30)
					for j := range events {
						events[j] = eventstore.Event{Type: "t", Data: []byte(fmt.Sprintf(`{"i":%d,"o":%d,"r":%d,"j":%d,"pad":%q}`, i, reopen, r, j, hex.EncodeToString(reviewBlob(i, written+j))))}
					}
					_, err := s.Append(ctx, eventstore.Write{Stream: fmt.Sprintf("s/%d", r%5), Events: events})
					assert.NoError(t, err)
					written += len(events)
					_, err = s.write.ExecContext(ctx, "PRAGMA shrink_memory")
					assert.NoError(t, err)
				}
				n := 0
				h := sha256.New()
				for e, err := range s.ReadAll(ctx, 0, 0) {
					if !assert.NoError(t, err) {
						break
					}
					h.Write(e.Data)
					n++
				}
				assert.Equal(t, written, n)
				var check string
				assert.NoError(t, s.write.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check))
				assert.Equal(t, "ok", check)
				assert.NoError(t, s.Close())
			}
		})
	}
	wg.Wait()
}

// TestReviewOpenCloseLeak: opening, using and closing connections many
// times must not grow the C heap (modernc's allocator, where both SQLite's
// cache and the local one keep their pages). It needs the allocator's
// counters: go test -tags memory.counters.
func TestReviewOpenCloseLeak(t *testing.T) {
	if libc.MemStat().Allocs == 0 && libc.MemStat().Bytes == 0 {
		t.Skip("needs -tags memory.counters")
	}
	dir := t.TempDir()
	cycle := func(i int) {
		path := filepath.Join(dir, fmt.Sprintf("l%d.db", i%3))
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=cache_size(20)&_pragma=temp_store(memory)&_pragma=journal_mode(wal)")
		require.NoError(t, err)
		db.SetMaxOpenConns(1)
		_, err = db.Exec("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB)")
		require.NoError(t, err)
		_, err = db.Exec("ATTACH ':memory:' AS m; CREATE TABLE m.x (v BLOB); CREATE TEMP TABLE y (v BLOB)")
		require.NoError(t, err)
		tx, err := db.Begin()
		require.NoError(t, err)
		for j := range 100 {
			_, err = tx.Exec("INSERT OR REPLACE INTO t VALUES (?, ?)", j, reviewBlob(i, j))
			require.NoError(t, err)
			_, err = tx.Exec("INSERT INTO m.x VALUES (?)", reviewBlob(i, j))
			require.NoError(t, err)
			_, err = tx.Exec("INSERT INTO y VALUES (?)", reviewBlob(i, j))
			require.NoError(t, err)
		}
		require.NoError(t, tx.Commit())
		var n int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM t, m.x WHERE t.k < 3").Scan(&n))
		require.NoError(t, db.Close())
	}
	for i := range 30 {
		cycle(i)
	}
	runtime.GC()
	before := libc.MemStat()
	for i := range 300 {
		cycle(i)
	}
	runtime.GC()
	after := libc.MemStat()
	t.Logf("C heap: %d allocations, %d bytes before; %d, %d after", before.Allocs, before.Bytes, after.Allocs, after.Bytes)
	// a leak of one page a cycle would be 300 allocations
	assert.Less(t, after.Allocs-before.Allocs, 100, "C allocations grew")
	assert.Less(t, after.Bytes-before.Bytes, 256<<10, "C heap grew")
}

// BenchmarkReviewPageFetch: full scans of a table of about 2,000 pages that
// all stay in the cache, so nearly all the time goes to page fetches that
// hit (xFetch, xUnpin): the cost of a cache's callbacks, with either cache.
func BenchmarkReviewPageFetch(b *testing.B) {
	db := reviewDB(b, "file:"+filepath.Join(b.TempDir(), "bench.db"), 1, "page_size(4096)", "cache_size(-65536)")
	_, err := db.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
	require.NoError(b, err)
	tx, err := db.Begin()
	require.NoError(b, err)
	for k := range 8000 {
		_, err := tx.Exec("INSERT INTO t VALUES (?, zeroblob(900))", k)
		require.NoError(b, err)
	}
	require.NoError(b, tx.Commit())
	var pages int
	require.NoError(b, db.QueryRow("PRAGMA page_count").Scan(&pages))
	b.ResetTimer()
	for b.Loop() {
		var n int
		require.NoError(b, db.QueryRow("SELECT count(length(v)) FROM t").Scan(&n))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(pages), "ns/page")
}

// TestReviewCacheBounded: a connection with cache_size 20 that reads and
// rewrites a database of thousands of pages keeps about 20 pages of C
// memory, not the database (unpinned pages are recycled or freed). It
// needs the allocator's counters: go test -tags memory.counters.
func TestReviewCacheBounded(t *testing.T) {
	if libc.MemStat().Allocs == 0 && libc.MemStat().Bytes == 0 {
		t.Skip("needs -tags memory.counters")
	}
	path := filepath.Join(t.TempDir(), "bound.db")
	setup := reviewDB(t, "file:"+path, 1, "page_size(4096)", "journal_mode(wal)")
	_, err := setup.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
	require.NoError(t, err)
	tx, err := setup.Begin()
	require.NoError(t, err)
	for k := range 20000 {
		_, err := tx.Exec("INSERT INTO t VALUES (?, ?)", k, reviewBlob(50, k))
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
	require.NoError(t, setup.Close())

	runtime.GC()
	before := libc.MemStat()
	db := reviewDB(t, "file:"+path, 1, "cache_size(20)", "journal_mode(wal)")
	peak, peakAllocs := 0, 0
	measure := func() {
		m := libc.MemStat()
		peak, peakAllocs = max(peak, m.Bytes-before.Bytes), max(peakAllocs, m.Allocs-before.Allocs)
	}
	for round := range 3 {
		var n int
		require.NoError(t, db.QueryRow("SELECT count(length(v)) FROM t").Scan(&n))
		require.Equal(t, 20000, n)
		measure()
		_, err := db.Exec("UPDATE t SET v = ? WHERE k % 3 = ?", reviewBlob(51, round), round)
		require.NoError(t, err)
		measure()
	}
	t.Logf("C heap grew by at most %d bytes, %d allocations with the connection open", peak, peakAllocs)
	// the database is some 2,800 pages of 4 KiB; 20 cached pages are 80 KiB
	assert.Less(t, peak, 4<<20, "the cache keeps far more than cache_size")
	assert.Less(t, peakAllocs, 1000, "the cache keeps far more than cache_size")
}

// TestReviewHotJournalRollback: a crash image taken in the middle of a
// transaction larger than a 10-page cache (so pages were spilled into the
// database file before commit) is rolled back from its hot journal when
// opened, through the cache of the connection that opens it, and holds
// exactly the content before the transaction.
func TestReviewHotJournalRollback(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "hot.db")
	db := reviewDB(t, "file:"+path, 1, "page_size(512)", "journal_mode(delete)", "cache_size(10)")
	_, err := db.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
	require.NoError(t, err)
	want := map[int]int{}
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	for k := range 1500 {
		_, err := tx.Exec("INSERT INTO t VALUES (?, ?)", k, reviewBlob(60, k))
		require.NoError(t, err)
		want[k] = 60
	}
	require.NoError(t, tx.Commit())

	tx, err = db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.Exec("UPDATE t SET v = zeroblob(length(v)) WHERE k % 2 = 0")
	require.NoError(t, err)
	_, err = tx.Exec("DELETE FROM t WHERE k % 3 = 0")
	require.NoError(t, err)
	for k := 2000; k < 2600; k++ {
		_, err := tx.Exec("INSERT INTO t VALUES (?, ?)", k, reviewBlob(61, k))
		require.NoError(t, err)
	}
	// the crash image: the database file with the spilled pages, and the journal
	crash := filepath.Join(dir, "crash")
	require.NoError(t, os.Mkdir(crash, 0o755))
	for _, suffix := range []string{"", "-journal"} {
		b, err := os.ReadFile(path + suffix)
		require.NoError(t, err, "the transaction must have spilled (a journal exists)")
		require.NoError(t, os.WriteFile(filepath.Join(crash, "hot.db"+suffix), b, 0o644))
	}
	require.NoError(t, tx.Rollback())

	img := reviewDB(t, "file:"+filepath.Join(crash, "hot.db"), 1, "cache_size(10)")
	reviewCheck(t, img, "main", "t", want)
	_, err = os.Stat(filepath.Join(crash, "hot.db-journal"))
	require.True(t, os.IsNotExist(err), "the hot journal was rolled back")
	reviewCheck(t, db, "main", "t", want)
}

// TestReviewCacheSizeInTransaction: cache_size shrunk and grown, spilling
// turned off and on, and shrink_memory, all in the middle of transactions
// larger than the cache (xCachesize and xShrink with many pinned, dirty
// pages), in a file database and in a temp_store=MEMORY temporary table.
func TestReviewCacheSizeInTransaction(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cs.db")
	db := reviewDB(t, "file:"+path, 1, "page_size(512)", "cache_size(10)", "temp_store(memory)")
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := conn.ExecContext(ctx, q, args...)
		require.NoError(t, err, q)
	}
	exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
	exec("CREATE TEMP TABLE tt (k INTEGER PRIMARY KEY, v BLOB)")
	settings := []string{"cache_size = 10", "cache_spill = OFF", "cache_size = 2000", "shrink_memory",
		"cache_size = 1", "cache_spill = ON", "cache_spill = 5", "cache_size = -1", "shrink_memory", "cache_size = 10"}
	want := map[int]int{}
	for round := range 4 {
		exec("BEGIN")
		for i, set := range settings {
			exec("PRAGMA " + set)
			if strings.HasPrefix(set, "cache_size") {
				exec("PRAGMA temp." + set)
			}
			for j := range 60 {
				k := round*10000 + i*100 + j
				exec("INSERT INTO t VALUES (?, ?)", k, reviewBlob(70, k))
				exec("INSERT INTO tt VALUES (?, ?)", k, reviewBlob(70, k))
				want[k] = 70
			}
			for _, tbl := range []string{"t", "tt"} { // move rows away, then back
				exec("UPDATE "+tbl+" SET k = k + 1000000 WHERE k % 11 = ?", i)
				exec("UPDATE " + tbl + " SET k = k - 1000000 WHERE k >= 1000000")
			}
		}
		exec("COMMIT")
		exec("PRAGMA shrink_memory")
		reviewCheck(t, conn, "main", "t", want)
		reviewCheck(t, conn, "temp", "tt", want)
	}
	other := reviewDB(t, "file:"+path, 1, "cache_size(10)")
	reviewCheck(t, other, "main", "t", want)
}

// TestReviewBackupSerialize: the online backup API restoring a file into an
// in-memory database (every page lands in a non-purgeable cache of 10
// pages), sqlite3_serialize of it, sqlite3_deserialize into another
// connection (the memdb VFS), and VACUUM INTO.
func TestReviewBackupSerialize(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	sdb := reviewDB(t, "file:"+src, 1, "page_size(512)", "cache_size(10)")
	_, err := sdb.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
	require.NoError(t, err)
	want := map[int]int{}
	tx, err := sdb.Begin()
	require.NoError(t, err)
	for k := range 1200 {
		_, err := tx.Exec("INSERT INTO t VALUES (?, ?)", k, reviewBlob(80, k))
		require.NoError(t, err)
		want[k] = 80
	}
	require.NoError(t, tx.Commit())

	type restorer interface {
		NewRestore(string) (*sqlite.Backup, error)
		Serialize() ([]byte, error)
		Deserialize([]byte) error
	}
	mem := reviewDB(t, ":memory:", 1, "cache_size(10)")
	mc, err := mem.Conn(ctx)
	require.NoError(t, err)
	defer mc.Close()
	var image []byte
	require.NoError(t, mc.Raw(func(dc any) error {
		b, err := dc.(restorer).NewRestore("file:" + src)
		if err != nil {
			return err
		}
		for {
			more, err := b.Step(7) // true while pages remain
			if err != nil {
				return err
			}
			if !more {
				break
			}
		}
		return b.Finish()
	}))
	_, err = mc.ExecContext(ctx, "PRAGMA shrink_memory")
	require.NoError(t, err)
	reviewCheck(t, mc, "main", "t", want)
	require.NoError(t, mc.Raw(func(dc any) error {
		image, err = dc.(restorer).Serialize()
		return err
	}))

	other := reviewDB(t, ":memory:", 1, "cache_size(10)")
	oc, err := other.Conn(ctx)
	require.NoError(t, err)
	defer oc.Close()
	require.NoError(t, oc.Raw(func(dc any) error { return dc.(restorer).Deserialize(image) }))
	_, err = oc.ExecContext(ctx, "PRAGMA cache_size = 10")
	require.NoError(t, err)
	_, err = oc.ExecContext(ctx, "DELETE FROM t WHERE k % 2 = 1")
	require.NoError(t, err)
	odd := map[int]int{}
	for k, s := range want {
		if k%2 == 0 {
			odd[k] = s
		}
	}
	reviewCheck(t, oc, "main", "t", odd)
	into := filepath.Join(dir, "into.db")
	_, err = oc.ExecContext(ctx, "VACUUM INTO ?", into)
	require.NoError(t, err)
	reviewCheck(t, reviewDB(t, "file:"+into, 1, "cache_size(10)"), "main", "t", odd)
	reviewCheck(t, mc, "main", "t", want)
}
