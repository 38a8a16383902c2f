package synctest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
)

// Environment of TestSyncdManyTenants.
const (
	// envManyTenants overrides the number of tenants served (the 100,000
	// tenant measurement of docs/benchmarks.md sets it).
	envManyTenants = "FERRY_MANY_TENANTS"
	// envManyMaxOpen overrides syncd's --max-open-tenants.
	envManyMaxOpen = "FERRY_MANY_MAX_OPEN"
)

// procUsage returns the open file descriptors and the resident set (kB)
// of process pid.
func procUsage(t testing.TB, pid int) (fds int, rssKB int64) {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	rssKB, err = procStatusKB(strconv.Itoa(pid), "VmRSS")
	require.NoError(t, err)
	return len(ents), rssKB
}

// The embedded hub serves thousands of tenants one after another, each a
// device pushing an event and pulling it back, with a small bound on open
// tenant stores: its open files stay bounded, and a tenant whose store was
// closed long ago serves its devices exactly as before.
func TestSyncdManyTenants(t *testing.T) {
	if testing.Short() {
		t.Skip("serves thousands of tenants")
	}
	n := benchSize(t, envManyTenants, 3000)
	maxOpen := benchSize(t, envManyMaxOpen, 8)
	dataDir := t.TempDir()
	p := startSyncd(t, nil, "--data-dir", dataDir, "--max-open-tenants", strconv.Itoa(maxOpen))
	url, pid := p.URL(), p.Pid()
	ctx := context.Background()

	// The first tenant's device syncs before all the others.
	first := openClientStore(t, "first-dev")
	written, err := first.Append(ctx, noteWrites("task/1", 3, 10)...)
	require.NoError(t, err)
	st := syncOnce(t, replicator(t, first, url, token(t, "first", "first-dev")))
	require.Equal(t, 3, st.Pushed)
	fds0, rss0 := procUsage(t, pid)
	t.Logf("after the first tenant: %d fds, %d MB", fds0, rss0>>10)

	// Every tenant's store holds about five files (the database, its WAL
	// and shared memory, the read pool's handles); the bound leaves room
	// for the process's own and the connections in flight.
	fdBound := fds0 + 8*maxOpen + 32
	const workers = 4
	var (
		mu      sync.Mutex
		maxFDs  int
		maxRSS  int64
		next    int
		wg      sync.WaitGroup
		started = time.Now()
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n || t.Failed() {
					return
				}
				tenant := fmt.Sprintf("tenant-%06d", i)
				s := memory.New(eventstore.Config{Origin: "dev"})
				_, err := s.Append(ctx, noteWrites("task/1", 1, 10)...)
				if !assert.NoError(t, err) {
					return
				}
				sctx, cancel := context.WithTimeout(ctx, waitTimeout)
				st, err := replicator(t, s, url, token(t, tenant, "dev")).SyncOnce(sctx)
				cancel()
				if !assert.NoError(t, err, tenant) {
					return
				}
				assert.Equal(t, 1, st.Pushed, tenant)
				assert.Equal(t, int64(1), st.Cursor, tenant)
				_ = s.Close()
				if i%250 == 0 || i == n-1 {
					fds, rss := procUsage(t, pid)
					mu.Lock()
					maxFDs, maxRSS = max(maxFDs, fds), max(maxRSS, rss)
					mu.Unlock()
					assert.LessOrEqual(t, fds, fdBound, "open files after %d tenants", i+1)
				}
			}
		}()
	}
	wg.Wait()
	fds, rss := procUsage(t, pid)
	t.Logf("%d tenants in %s, --max-open-tenants %d: at the end %d fds, %d MB RSS; peak sampled %d fds, %d MB",
		n, time.Since(started).Round(time.Millisecond), maxOpen, fds, rss>>10, maxFDs, maxRSS>>10)
	assert.LessOrEqual(t, fds, fdBound)
	files, err := filepath.Glob(filepath.Join(dataDir, "tenants", "*.db"))
	require.NoError(t, err)
	assert.Len(t, files, n+1, "one file per tenant")

	// The first tenant's store was closed long ago: its device resumes
	// from its cursor, a new write gets the next hub position, and a new
	// device pulls the same ledger, in the same order.
	more, err := first.Append(ctx, noteWrites("task/2", 1, 10)...)
	require.NoError(t, err)
	st = syncOnce(t, replicator(t, first, url, token(t, "first", "first-dev")))
	assert.Equal(t, 1, st.Pushed)
	assert.Equal(t, int64(4), st.Cursor)
	got := ledger(t, first)
	require.Len(t, got, 4)
	for i, e := range got {
		assert.Equal(t, int64(i+1), e.HubPosition)
	}
	pulled := pullAll(t, url, "first")
	require.Len(t, pulled, 4)
	for i, e := range pulled {
		assert.Equal(t, got[i].ID, e.ID)
		assert.Equal(t, int64(i+1), e.HubPosition)
	}
	assert.Equal(t, sortedIDs(append(written, more...)), sortedIDs(pulled))
}
